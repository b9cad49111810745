// A leak trace's page while it runs: its state and the read it is at, live; the page reloads
// itself once the trace has ended, to show the answer (the server renders every result).
(function () {
  "use strict";
  const state = document.querySelector("[data-testid=trace-state]");
  const stage = document.querySelector("[data-testid=trace-stage]");

  function show(trace) {
    if (!trace) return;
    if (trace.final) {
      window.location.reload();
      return;
    }
    state.textContent = trace.state_label;
    if (trace.stage) stage.textContent = trace.stage + "…";
  }

  window.Vernissage.live.connect(document.getElementById("live-status"), {
    snapshot: function (message) { show(message.trace); },
    trace: function (message) { show(message.trace); },
  });
})();
