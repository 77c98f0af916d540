"""The API's routes, one module per resource, each an `APIRouter` named `router` that
`api.app.create_app` includes. Every route also needs a rule in `api/auth.py` (`RULES`)."""
