// The review pages. On the output page: Copy share link. On the queue, operable by keyboard:
// j/k move (and claim), a approve, r reject, c changes, u undo, Space play/pause, x select.
// Decisions go to the same endpoints as the buttons; other reviewers' claims and decisions arrive
// over /ws/review/ through live.js (which owns the socket, its reconnects and its close codes).
(function () {
  "use strict";

  // --- Copy share link (output page) -----------------------------------------------------------
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const text = button.dataset.copy;
    const done = function (ok) {
      const status = button.parentElement.querySelector("[data-copy-status]");
      if (status) status.textContent = ok ? "Copied to the clipboard." : "Copy failed: select the link and copy it.";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {
      // Plain http on another host has no clipboard API: copy through a selected field.
      const field = document.createElement("textarea");
      field.value = text;
      field.setAttribute("readonly", "");
      field.className = "offscreen";
      document.body.appendChild(field);
      field.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (error) { ok = false; }
      field.remove();
      done(ok);
    }
  });

  const queue = document.getElementById("queue");
  if (!queue) return;
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const undoMs = Number(queue.dataset.undoSeconds || 10) * 1000;
  const SELECTION_KEY = "vernissage.review.selection";
  let current = null;
  let undoable = null; // { item, timer }: the one decision Undo can still take back

  function items() {
    return Array.from(queue.querySelectorAll("[data-testid=queue-item][data-state=pending]:not(.decided)"));
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

  function video(item) {
    return item && item.querySelector("video");
  }

  // The focused clip plays, muted and looping; the one left behind stops.
  function play(item) {
    const clip = video(item);
    if (!clip) return;
    clip.muted = true;
    clip.loop = true;
    const started = clip.play();
    if (started) started.catch(function () { /* a clip that cannot play keeps its poster */ });
  }

  function togglePlay(item) {
    const clip = video(item);
    if (!clip) return;
    if (clip.paused) play(item);
    else clip.pause();
  }

  // `claim` is false only for the item focused on arrival: opening the page claims nothing.
  function focus(item, claim) {
    if (!item) return;
    if (current && current !== item && !current.classList.contains("decided")) {
      // Moving on releases the item, so others are not blocked by what one only skimmed.
      post(current.dataset.claimUrl, { release: "1" });
      current.querySelector("[data-testid=claim]").textContent = "";
    }
    if (current && current !== item && video(current)) video(current).pause();
    if (current) current.classList.remove("focused");
    current = item;
    item.classList.add("focused");
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest" });
    play(item);
    if (claim === false) return;
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

  // --- Undo: offered until the next decision or the server's window passes ----------------------
  function closeUndo() {
    if (!undoable) return;
    clearTimeout(undoable.timer);
    undoable.item.querySelector("[data-testid=undo-bar]").hidden = true;
    undoable = null;
  }

  function offerUndo(item, message) {
    closeUndo();
    const bar = item.querySelector("[data-testid=undo-bar]");
    bar.querySelector("[data-testid=undo-text]").textContent = message + ".";
    bar.hidden = false;
    undoable = { item: item, timer: setTimeout(closeUndo, undoMs) };
  }

  function undo(item) {
    post(item.dataset.undoUrl, {}).then(function (answer) {
      closeUndo();
      show(item, answer.message, !answer.ok);
      if (!answer.ok) return;
      item.classList.remove("decided");
      delete item.dataset.decision;
      delete item.dataset.pending;
      item.querySelector("[data-testid=claim]").textContent = "Claimed by you";
      if (current && current !== item) {
        current.classList.remove("focused");
        if (video(current)) video(current).pause();
      }
      current = item;
      item.classList.add("focused");
      item.focus({ preventScroll: true });
      item.scrollIntoView({ block: "nearest" });
      play(item);
    });
  }

  function decide(item, decision) {
    const fields = {
      decision: decision,
      reason: item.querySelector("[data-field=reason]").value,
      note: item.querySelector("[data-field=note]").value,
    };
    post(item.dataset.decideUrl, fields).then(function (answer) {
      show(item, answer.message, !answer.ok);
      if (!answer.ok) {
        // A refused reject leaves the keys to the item, not to its reason list (where `c` would
        // pick a reason); the message says what is missing.
        if (decision === "reject" && item.contains(document.activeElement)) leaveField(item);
        return;
      }
      if (answer.message === "Awaiting review") {
        show(item, "Approval recorded; another reviewer must approve too.");
      }
      if (video(item)) video(item).pause();
      item.classList.add("decided");
      item.dataset.decision = answer.message;
      const box = item.querySelector("[data-testid=select]");
      if (box && box.checked) {
        box.checked = false;
        saveSelection();
      }
      offerUndo(item, answer.message);
      const next = items()[0];
      if (next) focus(next);
    });
  }

  function leaveField(item) {
    delete item.dataset.pending;
    item.focus({ preventScroll: true });
  }

  // What Enter in an item's note does: the action its key (c, r) or reason chose; with no reason
  // chosen a note asks for changes, since that is the decision a note is required for.
  function pendingAction(item) {
    if (item.dataset.pending) return item.dataset.pending;
    return item.querySelector("[data-field=reason]").value ? "reject" : "changes";
  }

  // --- Bulk selection: counted in the sticky bar, kept across reloads (per tab session) ---------
  const counter = document.querySelector("[data-testid=selected-count]");

  function boxes() {
    return Array.from(queue.querySelectorAll("[data-testid=select]"));
  }

  function saveSelection() {
    const chosen = boxes().filter(function (box) { return box.checked; }).map(function (box) { return box.value; });
    sessionStorage.setItem(SELECTION_KEY, JSON.stringify(chosen));
    if (counter) counter.textContent = String(chosen.length);
    // With nothing selected the bar stays out of the way: in the flow, its actions folded.
    const bar = document.getElementById("bulk-form");
    if (bar) bar.toggleAttribute("data-empty", chosen.length === 0);
  }

  function restoreSelection() {
    let chosen = [];
    try { chosen = JSON.parse(sessionStorage.getItem(SELECTION_KEY) || "[]"); } catch (error) { chosen = []; }
    boxes().forEach(function (box) { box.checked = chosen.indexOf(box.value) !== -1; });
    saveSelection(); // what is no longer on the page (decided meanwhile) drops out
  }

  queue.addEventListener("change", function (event) {
    if (event.target.matches("[data-testid=select]")) saveSelection();
  });
  const bulk = document.getElementById("bulk-form");
  if (bulk) {
    bulk.addEventListener("submit", function () { sessionStorage.removeItem(SELECTION_KEY); });
    // Enter in the bulk note rejects when a reason is chosen, and does nothing otherwise: the
    // form's first button (Approve selected) must never be what a note's Enter sends.
    bulk.querySelector("[name=note]").addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      if (bulk.querySelector("[name=reason]").value) {
        bulk.requestSubmit(bulk.querySelector("button[value=reject]"));
      }
    });
    bulk.querySelector("[data-clear-selection]").addEventListener("click", function () {
      boxes().forEach(function (box) { box.checked = false; });
      saveSelection();
    });
  }
  restoreSelection();

  // On arrival the first item is focused and its clip plays, unless the reviewer already went
  // to a field (the filters, a note) while the page loaded.
  const active = document.activeElement;
  if (!active || active === document.body) focus(items()[0], false);

  // --- Forms and keys ---------------------------------------------------------------------------
  // An item's form is never sent by the browser: Enter in its note decides that item, here.
  queue.addEventListener("submit", function (event) {
    const noteForm = event.target.closest("[data-tester-note]");
    if (noteForm) {
      event.preventDefault();
      const status = noteForm.querySelector("[data-note-status]");
      post(noteForm.action, new FormData(noteForm)).then(function (answer) {
        status.textContent = answer.message;
        status.classList.toggle("error", !answer.ok);
        if (!answer.ok) return;
        // Every item of the same tester shows the same note.
        const body = noteForm.querySelector("textarea");
        queue.querySelectorAll(`textarea[data-tester="${body.dataset.tester}"]`).forEach(function (other) {
          other.value = body.value;
        });
      });
      return;
    }
    const form = event.target.closest("[data-item-form]");
    if (!form) return;
    event.preventDefault();
    const item = form.closest("[data-testid=queue-item]");
    if (item && !item.classList.contains("decided")) decide(item, pendingAction(item));
  });

  queue.addEventListener("click", function (event) {
    const item = event.target.closest("[data-testid=queue-item]");
    if (!item) return;
    if (event.target.closest("[data-undo]")) {
      undo(item);
      return;
    }
    if (item.classList.contains("decided") || item.dataset.state !== "pending") return;
    if (event.target.closest(".tester-context, [data-testid=select], video")) return;
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
    if ((inReason || inNote) && event.key === "Escape") {
      event.preventDefault();
      leaveField(event.target.closest("[data-testid=queue-item]"));
      return;
    }
    if (typing || inReason || event.ctrlKey || event.metaKey || event.altKey) return;
    // Space on a button or link is that control's own; anywhere else it plays or pauses the clip.
    if (event.key === " " && event.target.matches("button, a, select, summary")) return;
    if (event.key === "j") move(1);
    else if (event.key === "k") move(-1);
    else if (event.key === "u" && undoable) undo(undoable.item);
    else if (current && event.key === " ") togglePlay(current);
    else if (current && event.key === "a") decide(current, "approve");
    else if (current && event.key === "c") {
      current.dataset.pending = "changes";
      current.querySelector("[data-field=note]").focus();
    }
    else if (current && event.key === "x") {
      const box = current.querySelector("[data-testid=select]");
      box.checked = !box.checked;
      saveSelection();
    } else if (current && event.key === "r") {
      event.preventDefault();
      current.dataset.pending = "reject";
      current.querySelector("[data-field=reason]").focus();
    } else return;
    event.preventDefault();
  });

  function applyUpdate(update) {
    const item = queue.querySelector(`[data-output-id="${update.id}"]`);
    if (!item || item.classList.contains("decided") || item.dataset.state !== "pending") return;
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
