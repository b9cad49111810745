// The review queue, operable by keyboard: j/k move (and claim), a approve, r reject, c changes, x select.
// Decisions go to the same endpoints as the buttons; other reviewers' claims and decisions arrive
// over /ws/review/ through live.js (which owns the socket, its reconnects and its close codes).
(function () {
  "use strict";
  const queue = document.getElementById("queue");
  if (!queue) return;
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  let current = null;

  function items() {
    return Array.from(queue.querySelectorAll("[data-testid=queue-item]:not(.decided)"));
  }

  function post(url, fields) {
    const body = new URLSearchParams(fields);
    return fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      body: body,
      credentials: "same-origin",
    }).then(function (response) {
      return response.json();
    });
  }

  function show(item, text, bad) {
    const result = item.querySelector("[data-testid=result]");
    result.textContent = text;
    result.classList.toggle("error", Boolean(bad));
  }

  function focus(item) {
    if (!item) return;
    if (current && current !== item && !current.classList.contains("decided")) {
      // Moving on releases the item, so others are not blocked by what one only skimmed.
      post(current.dataset.claimUrl, { release: "1" });
      current.querySelector("[data-testid=claim]").textContent = "";
    }
    if (current) current.classList.remove("focused");
    current = item;
    item.classList.add("focused");
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest" });
    post(item.dataset.claimUrl, {}).then(function (answer) {
      item.querySelector("[data-testid=claim]").textContent = answer.ok ? "Claimed by you" : answer.message;
      item.classList.toggle("blocked", !answer.ok);
    });
  }

  function move(delta) {
    const all = items();
    const index = current ? all.indexOf(current) : -1;
    focus(all[Math.max(0, Math.min(all.length - 1, index + delta))] || all[0]);
  }

  function decide(item, decision) {
    const fields = {
      decision: decision,
      reason: item.querySelector("[data-field=reason]").value,
      note: item.querySelector("[data-field=note]").value,
    };
    post(item.dataset.decideUrl, fields).then(function (answer) {
      show(item, answer.message, !answer.ok);
      if (!answer.ok) return;
      if (answer.message === "Awaiting review") {
        show(item, "Approval recorded; another reviewer must approve too.");
      }
      item.classList.add("decided");
      item.dataset.decision = answer.message;
      const next = items()[0];
      if (next) focus(next);
    });
  }

  // What Enter in an item's note does: the action its key (c, r) or reason chose; with no reason
  // chosen a note asks for changes, since that is the decision a note is required for.
  function pendingAction(item) {
    if (item.dataset.pending) return item.dataset.pending;
    return item.querySelector("[data-field=reason]").value ? "reject" : "changes";
  }

  // An item's form is never sent by the browser: Enter in its note decides that item, here.
  queue.addEventListener("submit", function (event) {
    const form = event.target.closest("[data-item-form]");
    if (!form) return;
    event.preventDefault();
    const item = form.closest("[data-testid=queue-item]");
    if (item && !item.classList.contains("decided")) decide(item, pendingAction(item));
  });

  queue.addEventListener("click", function (event) {
    const item = event.target.closest("[data-testid=queue-item]");
    if (!item || item.classList.contains("decided")) return;
    const button = event.target.closest("[data-action]");
    if (button) {
      decide(item, button.dataset.action);
    } else if (item !== current) {
      focus(item); // opening an item with the mouse claims it, as j/k do
    }
  });

  document.addEventListener("keydown", function (event) {
    const typing = event.target.matches("input, textarea");
    const inReason = event.target.matches("[data-field=reason]");
    const inNote = event.target.matches("[data-field=note]");
    if ((inReason || inNote) && event.key === "Enter") {
      event.preventDefault();
      const item = event.target.closest("[data-testid=queue-item]");
      if (!item.classList.contains("decided")) decide(item, inReason ? "reject" : pendingAction(item));
      return;
    }
    if (typing || inReason || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "j") move(1);
    else if (event.key === "k") move(-1);
    else if (current && event.key === "a") decide(current, "approve");
    else if (current && event.key === "c") {
      current.dataset.pending = "changes";
      current.querySelector("[data-field=note]").focus();
    }
    else if (current && event.key === "x") {
      const box = current.querySelector("input[type=checkbox]");
      box.checked = !box.checked;
    } else if (current && event.key === "r") {
      event.preventDefault();
      current.dataset.pending = "reject";
      current.querySelector("[data-field=reason]").focus();
    } else return;
    event.preventDefault();
  });

  function applyUpdate(update) {
    const item = queue.querySelector(`[data-output-id="${update.id}"]`);
    if (!item || item.classList.contains("decided")) return;
    if (update.state !== "pending") {
      item.classList.add("decided");
      show(item, `Decided elsewhere: ${update.state}`);
      return;
    }
    const mine = update.claimed_by === queue.dataset.me;
    item.querySelector("[data-testid=claim]").textContent = update.claimed_by
      ? (mine ? "Claimed by you" : `Being reviewed by ${update.claimed_by}`)
      : "";
    item.classList.toggle("blocked", Boolean(update.claimed_by) && !mine);
  }

  function liveUpdatesStopped(message) {
    // Only the live updates stop: the page stays usable, and the server judges each decision.
    const notice = document.createElement("p");
    notice.className = "notice";
    notice.dataset.testid = "live-stopped";
    notice.setAttribute("role", "status");
    const why = message.reason ? ` (${message.reason})` : "";
    notice.textContent = `Live updates stopped because your review access ended${why}. ` +
      "Reload the page to see where you stand.";
    document.querySelector("main").prepend(notice);
  }

  window.Vernissage.live.connect(document.getElementById("live-status"), {
    review: function (message) { applyUpdate(message.item); },
    accessEnded: liveUpdatesStopped,
  });
})();
