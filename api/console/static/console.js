// The console's only script: a countdown to the next transition and the pass-progress poller.
// No framework, no CDN: served from /console/static.
"use strict";

function pad(n) { return String(n).padStart(2, "0"); }

// <span class="countdown" data-seconds="N">: counts down from the server's figure (the
// controller's clock may be a lab clock, so the browser's own time is never used).
for (const el of document.querySelectorAll(".countdown[data-seconds]")) {
  const start = performance.now(), total = Number(el.dataset.seconds);
  const tick = () => {
    const left = Math.max(0, Math.round(total - (performance.now() - start) / 1000));
    const h = Math.floor(left / 3600), m = Math.floor(left % 3600 / 60), s = left % 60;
    el.textContent = left > 0 ? `${h}h ${pad(m)}m ${pad(s)}s` : "now (reload for the next)";
    if (left > 0) setTimeout(tick, 1000);
  };
  tick();
}

// <section id="progress" data-url="...">: polls the pass running now and shows it.
const box = document.getElementById("progress");
if (box) {
  let seen = null;  // the pass shown when the page loaded, or since
  const show = (name, text) => { box.querySelector(`[data-${name}]`).textContent = text; };
  const poll = async () => {
    try {
      const answer = await fetch(box.dataset.url, { credentials: "same-origin" });
      if (answer.redirected || !answer.ok) return;
      const { pass } = await answer.json();
      if (pass) {
        box.hidden = false;
        show("state", pass.running ? "running" : "finished");
        box.dataset.state = pass.running ? "running" : "finished";
        show("pass", pass.pass_id);
        show("at", pass.at);
        show("devices", `${pass.devices_done} of ${pass.devices} routers`);
        show("lines", `${pass.verified} of ${pass.lines} lines verified, ${pass.failed} failed`);
        show("seconds", `${pass.seconds} s`);
        const bar = box.querySelector(".progress > div");
        bar.style.width = `${pass.devices ? 100 * pass.devices_done / pass.devices : 100}%`;
        const list = box.querySelector("[data-failures]");
        list.replaceChildren(...pass.failures.map((f) => {
          const li = document.createElement("li");
          li.textContent = `${f.device} ${f.line} (${f.action}): ${f.error}`;
          return li;
        }));
        // a pass that finished while the page watched: reload for the recent passes' table
        const key = `${pass.pass_id}:${pass.running}`;
        if (seen !== null && seen !== key && !pass.running) location.reload();
        seen = key;
      }
    } catch (e) { /* the server restarts: try again */ }
    setTimeout(poll, 1000);
  };
  poll();
}
