// The studio: the form's shape choosers, and the job grid, rendered from the page's snapshot and
// kept live over /ws/studio/ through live.js (which owns the socket, its reconnects and its close
// codes). Every server message carries whole job states, so rendering is "replace the card".
(function () {
  "use strict";
  const list = document.getElementById("jobs");
  const empty = document.getElementById("no-jobs");
  const form = document.getElementById("job-form");
  const budgetLine = document.getElementById("budget");
  const models = new Map(
    JSON.parse(document.getElementById("studio-models").textContent).map((m) => [m.name, m])
  );
  const acceptsNew = list.dataset.liveNew === "1"; // unfiltered first page: new jobs appear
  const jobs = new Map();
  const previews = new Map(); // job id -> latest preview, kept across card re-renders
  const PROMPT_SHORT = 140;

  function text(tag, className, value) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    el.textContent = value;
    return el;
  }

  // --- the form: chips and presets set the shape; only valid values can be chosen ------------

  function field(name) { return form.elements.namedItem(name); }

  function currentModel() { return models.get(field("model").value); }

  function syncChips() {
    const values = { width: field("width").value, height: field("height").value,
      numFrames: field("num_frames").value };
    form.querySelectorAll(".shape-presets .chip").forEach(function (chip) {
      const d = chip.dataset;
      const on = d.numFrames ? d.numFrames === values.numFrames
        : d.width === values.width && d.height === values.height;
      chip.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  function limitOptions() {
    // Options over the chosen model's limits are disabled: they cannot be chosen.
    const model = currentModel();
    form.querySelectorAll(".shape-presets").forEach(function (group) {
      group.hidden = !model || group.dataset.model !== model.name;
    });
    if (!model) return;
    ["num_frames", "width", "height"].forEach(function (name) {
      const select = field(name);
      let best = null;
      Array.from(select.options).forEach(function (option) {
        option.disabled = Number(option.value) > model.limits[name];
        if (!option.disabled) best = option;
      });
      if (select.selectedOptions[0] && select.selectedOptions[0].disabled && best) {
        select.value = best.value;
      }
    });
    ["steps", "guidance"].forEach(function (name) {
      field(name).max = String(model.limits[name]);  // the typed value's bound is the model's
    });
    syncChips();
  }

  function clamp(input) {
    // A typed number outside what the model takes becomes the nearest value it does take.
    if (input.value === "") return;
    const model = currentModel();
    const limit = model && model.limits[input.name];
    const max = limit === undefined ? Number(input.max) : limit;
    let value = Number(input.value);
    if (Number.isNaN(value)) { input.value = ""; return; }
    if (input.name !== "guidance") value = Math.round(value);
    input.value = String(Math.min(Math.max(value, Number(input.min) || 0), max));
  }

  function setupForm() {
    form.querySelectorAll(".shape-presets .chip").forEach(function (chip) {
      chip.addEventListener("click", function () {
        const d = chip.dataset;
        if (d.numFrames) field("num_frames").value = d.numFrames;
        else { field("width").value = d.width; field("height").value = d.height; }
        syncChips();
      });
    });
    ["num_frames", "width", "height"].forEach(function (name) {
      field(name).addEventListener("change", syncChips);
    });
    ["steps", "guidance", "seed"].forEach(function (name) {
      field(name).addEventListener("change", function () { clamp(field(name)); });
    });
    field("model").addEventListener("change", limitOptions);
    limitOptions();
  }

  // --- the budget line ----------------------------------------------------------------------

  function showBudget(budget) {
    const parts = [];
    if (budget.waiting_limit !== null) {
      parts.push(`Jobs waiting or running: ${budget.waiting} of ${budget.waiting_limit}.`);
    }
    if (budget.gpu_seconds_per_day !== null) {
      parts.push(`GPU time left today: ${Math.round(budget.gpu_seconds_left)} of ` +
        `${budget.gpu_seconds_per_day} s.`);
    }
    budgetLine.textContent = parts.join(" ");
    budgetLine.dataset.waiting = budget.waiting;
  }

  // --- job cards ----------------------------------------------------------------------------

  function progressLine(job) {
    if (job.state === "queued") {
      if (job.queue_position === null) return "waiting for a GPU";
      const eta = job.eta_s === null ? "" : ` · ready in about ${Math.ceil(job.eta_s)} s`;
      const place = job.queue_position === 0 ? "next" : `${job.queue_position} ahead`;
      return `waiting for a GPU · ${place}${eta}`;
    }
    if (job.state === "running") {
      if (job.total_steps && job.step >= job.total_steps) return "finishing video…";
      const eta = job.eta_s === null ? "" : ` · about ${Math.ceil(job.eta_s)} s left`;
      return `step ${job.step} of ${job.total_steps} · ${job.percent}%${eta}`;
    }
    if (job.state === "succeeded") return `done · ${job.total_steps} steps`;
    if (job.state === "cancelled") return "stopped";
    return "";
  }

  const BADGES = { queued: "badge-muted", running: "badge-warn", succeeded: "badge-ok",
    failed: "badge-bad", cancelled: "badge-muted" };

  function stateBadge(state, label) {
    const badge = text("span", `state state-${state} badge ${BADGES[state] || ""}`, label);
    badge.dataset.testid = "job-state";
    return badge;
  }

  function seconds(from, to) {
    return Math.max(0, Math.round((new Date(to) - new Date(from)) / 1000));
  }

  function duration(job) {
    if (!job.started_at) return null;
    if (job.completed_at) return `${seconds(job.started_at, job.completed_at)} s`;
    return job.state === "running" ? `${seconds(job.started_at, new Date())} s so far` : null;
  }

  function details(job) {
    const p = job.parameters || {};
    const model = models.get(job.model);
    const dl = document.createElement("dl");
    dl.className = "kv job-details";
    const length = model && p.num_frames ? ` (${(p.num_frames / model.fps).toFixed(1)} s)` : "";
    const rows = [
      ["Seed", p.seed], ["Size", p.width ? `${p.width}×${p.height}` : null],
      ["Frames", p.num_frames ? `${p.num_frames}${length}` : null], ["Steps", p.steps],
      ["Model", job.model],
      ["Submitted", new Date(job.created_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })],
      ["Duration", duration(job)],
    ];
    rows.forEach(function ([label, value]) {
      if (value === null || value === undefined) return;
      dl.appendChild(text("dt", "", label));
      dl.appendChild(text("dd", "", String(value)));
    });
    return dl;
  }

  function promptBlock(job) {
    const box = document.createElement("div");
    box.className = "prompt-box";
    const prompt = text("p", "prompt", job.prompt);
    box.appendChild(prompt);
    if (job.prompt.length > PROMPT_SHORT) {
      prompt.classList.add("clamped");
      const more = text("button", "link", "Show all");
      more.type = "button";
      more.setAttribute("aria-expanded", "false");
      more.dataset.testid = "expand-prompt";
      more.addEventListener("click", function () {
        const open = prompt.classList.toggle("clamped") === false;
        more.setAttribute("aria-expanded", open ? "true" : "false");
        more.textContent = open ? "Show less" : "Show all";
      });
      box.appendChild(more);
    }
    return box;
  }

  function thumbnail(job) {
    if (job.output && job.output.state !== "deleted") { // a deleted output has no files left
      const video = document.createElement("video");
      video.src = job.output.video_url;
      video.poster = job.output.poster_url;
      video.controls = true;
      video.loop = true;
      video.muted = true;
      video.preload = "none";
      video.dataset.testid = "job-video";
      video.className = "thumb";
      return video;
    }
    if (job.state === "running" && previews.has(job.id)) return previewImage(previews.get(job.id));
    const words = { queued: "waiting for a GPU", running: "rendering…", failed: "no video",
      cancelled: "stopped" };
    return text("div", "thumb thumb-empty", words[job.state] || "");
  }

  function outputBlock(job) {
    const box = document.createElement("div");
    box.className = "output";
    const review = text("p", `review review-${job.output.state}`, `Review: ${job.output.state_label}`);
    review.dataset.testid = "review-state";
    if (job.output.reason) review.appendChild(text("span", "reason", ` — ${job.output.reason}`));
    box.appendChild(review);
    if (job.output.note) box.appendChild(text("p", "meta note", `Reviewer's note: ${job.output.note}`));
    const link = document.createElement("a");
    link.href = `/outputs/${job.output.id}/`;
    link.textContent = job.output.state === "approved" ? "Share…" : "Details";
    link.dataset.testid = "output-link";
    box.appendChild(link);
    return box;
  }

  function csrf() { return form.querySelector("[name=csrfmiddlewaretoken]").value; }

  function cancelButton(job) {
    const button = text("button", "btn-secondary btn-small", "Cancel");
    button.type = "button";
    button.dataset.testid = "cancel-job";
    button.addEventListener("click", function () {
      button.disabled = true;
      fetch(`/studio/jobs/${job.id}/cancel/`, {
        method: "POST",
        headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
        credentials: "same-origin",
      }).then(function (response) {
        if (response.ok) markStopped(job.id, "stopped");
        else button.disabled = false;
      });
    });
    return button;
  }

  function link(label, href, testid) {
    const a = text("a", "btn-secondary btn-small", label);
    a.href = href;
    a.dataset.testid = testid;
    return a;
  }

  function newToken() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID().replace(/-/g, "");
    return `${Date.now()}${Math.random()}`.replace(/\D/g, "").slice(0, 32);
  }

  function rerun(job) {
    // One click queues the same settings again with a new (random) seed; the job is its parent.
    // The form is built at the click, so the cards carry no second set of named fields.
    const post = document.createElement("form");
    post.method = "post";
    post.action = form.action;
    post.hidden = true;
    const p = job.parameters;
    const values = { csrfmiddlewaretoken: csrf(), model: job.model, prompt: job.prompt,
      negative_prompt: p.negative_prompt || "", num_frames: p.num_frames, width: p.width,
      height: p.height, steps: p.steps, guidance: p.guidance, parent: job.id,
      client_token: newToken(), seed: "" };
    Object.entries(values).forEach(function ([name, value]) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value === undefined || value === null ? "" : value;
      post.appendChild(input);
    });
    document.body.appendChild(post);
    post.submit();
  }

  function rerunButton(job) {
    const button = text("button", "btn-secondary btn-small", "Re-run");
    button.type = "button";
    button.title = "Queue the same settings again with a new seed";
    button.dataset.testid = "rerun";
    button.addEventListener("click", function () { button.disabled = true; rerun(job); });
    return button;
  }

  function actions(job) {
    const row = document.createElement("div");
    row.className = "cluster job-actions";
    if (job.state === "queued" || job.state === "running") row.appendChild(cancelButton(job));
    row.appendChild(link("Reuse settings", `?from=${job.id}&as=reuse`, "reuse"));
    if (job.parameters) row.appendChild(rerunButton(job));
    if (job.output && job.output.state === "needs_changes") {
      row.appendChild(link("New version", `?from=${job.id}&as=revise`, "new-version"));
    }
    return row;
  }

  function render(job) {
    const card = document.createElement("li");
    card.className = `job card stack job-${job.state}`;
    card.dataset.jobId = job.id;
    card.dataset.state = job.state;
    card.appendChild(thumbnail(job));
    const head = document.createElement("div");
    head.className = "cluster job-head";
    head.appendChild(stateBadge(job.state, job.state_label));
    if (job.parent_id) head.appendChild(text("span", "meta", "derived"));
    card.appendChild(head);
    card.appendChild(promptBlock(job));
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = job.percent;
    bar.dataset.testid = "job-progress";
    bar.setAttribute("aria-label", `progress ${job.percent}%`);
    card.appendChild(bar);
    card.appendChild(text("span", "progress-text", progressLine(job)));
    if (job.error) card.appendChild(text("p", "error", job.error));
    card.appendChild(details(job));
    if (job.output) card.appendChild(outputBlock(job));
    card.appendChild(actions(job));
    if (job.state !== "running") previews.delete(job.id);
    return card;
  }

  function upsert(job, { fromLive } = {}) {
    const old = list.querySelector(`[data-job-id="${job.id}"]`);
    if (!old && fromLive && !acceptsNew) return; // a filtered or later page: not one of its jobs
    const fresh = render(job);
    if (old) old.replaceWith(fresh);
    else list.prepend(fresh);
    jobs.set(job.id, job);
    empty.hidden = jobs.size > 0;
  }

  function markStopped(jobId, why) {
    // Stopped means stopped: the card never reads "running" (or "queued") afterwards.
    const job = jobs.get(jobId);
    if (!job || (job.state !== "running" && job.state !== "queued")) return;
    upsert(Object.assign({}, job, { state: "cancelled", state_label: "Cancelled", error: why,
      queue_position: null, eta_s: null }));
  }

  function previewImage(preview) {
    const image = document.createElement("img");
    image.className = "preview thumb";
    image.alt = "preview of the video being made";
    image.dataset.testid = "job-preview";
    image.src = preview.image;
    image.title = `preview at step ${preview.step} of ${preview.total_steps}`;
    return image;
  }

  function showPreview(preview) {
    previews.set(preview.job_id, preview);
    const card = list.querySelector(`[data-job-id="${preview.job_id}"]`);
    if (!card || card.dataset.state !== "running") return;
    const old = card.querySelector(".thumb");
    if (old) old.replaceWith(previewImage(preview));
  }

  function snapshot(all) {
    // The latest jobs: update the ones shown; on the unfiltered first page, add newer ones too.
    const shown = new Set(jobs.keys());
    const oldest = Array.from(jobs.values()).reduce(
      (min, job) => (min === null || job.created_at < min ? job.created_at : min), null);
    all.slice().reverse().forEach(function (job) {
      const newer = acceptsNew && (oldest === null || job.created_at > oldest);
      if (shown.has(job.id) || newer) upsert(job);
    });
  }

  function accessEnded(message) {
    // The server closed this page's access: say so and disable everything on it.
    if (document.getElementById("access-ended")) return;
    const banner = document.createElement("div");
    banner.id = "access-ended";
    banner.className = "access-ended banner banner-bad";
    banner.dataset.testid = "access-revoked";
    const what = message.standing === "paused" ? "The alpha program is paused" : "Access revoked";
    banner.textContent = message.reason ? `${what}: ${message.reason}` : `${what}.`;
    document.querySelector("main").prepend(banner);
    // The server stopped this user's queued and running jobs with the same action.
    const active = Array.from(jobs.values()).filter(
      (job) => job.state === "running" || job.state === "queued");
    active.forEach(function (job) {
      // In place, so the card keeps its (now disabled) controls where they were.
      jobs.set(job.id, Object.assign({}, job, { state: "cancelled", state_label: "Cancelled" }));
      const card = list.querySelector(`[data-job-id="${job.id}"]`);
      if (!card) return;
      card.dataset.state = "cancelled";
      card.className = "job card stack job-cancelled";
      card.querySelector(".state").replaceWith(stateBadge("cancelled", "Cancelled"));
      card.querySelector(".progress-text").textContent = "stopped: access ended";
      const thumb = card.querySelector(".thumb-empty");
      if (thumb) thumb.textContent = "stopped";
    });
    document.querySelectorAll("main button, main input, main textarea, main select").forEach(
      function (control) { control.disabled = true; }
    );
  }

  setupForm();
  JSON.parse(document.getElementById("initial-jobs").textContent).slice().reverse()
    .forEach((job) => upsert(job));
  empty.hidden = jobs.size > 0;
  window.Vernissage.live.connect(document.getElementById("live-status"), {
    snapshot: function (message) { snapshot(message.jobs); },
    job: function (message) { upsert(message.job, { fromLive: true }); },
    preview: function (message) { showPreview(message.preview); },
    budget: function (message) { showBudget(message.budget); },
    accessEnded: accessEnded,
  });
})();
