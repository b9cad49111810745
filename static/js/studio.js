// The studio's job list: rendered from the page's snapshot, then kept live over /ws/studio/
// through live.js (which owns the socket, its reconnects and its close codes).
// Every server message carries whole job states, so rendering is "replace the row", never a diff.
(function () {
  "use strict";
  const list = document.getElementById("jobs");
  const empty = document.getElementById("no-jobs");
  const jobs = new Map();
  const previews = new Map(); // job id -> latest preview, kept across row re-renders

  function text(tag, className, value) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    el.textContent = value;
    return el;
  }

  function progressLine(job) {
    if (job.state === "queued") {
      if (job.queue_position === null) return "waiting for a GPU";
      const eta = job.eta_s === null ? "" : ` · ready in about ${Math.ceil(job.eta_s)} s`;
      return `waiting for a GPU · ${job.queue_position} ahead${eta}`;
    }
    if (job.state === "running") {
      const eta = job.eta_s === null ? "" : ` · about ${Math.ceil(job.eta_s)} s left`;
      return `step ${job.step} of ${job.total_steps} · ${job.percent}%${eta}`;
    }
    if (job.state === "succeeded") return `done · ${job.total_steps} steps`;
    return "";
  }

  function outputBlock(job) {
    const box = document.createElement("div");
    box.className = "output";
    if (job.output.state !== "deleted") { // a deleted output has no files left to play
      const video = document.createElement("video");
      video.src = job.output.video_url;
      video.poster = job.output.poster_url;
      video.controls = true;
      video.loop = true;
      video.muted = true;
      video.preload = "metadata";
      video.dataset.testid = "job-video";
      box.appendChild(video);
    }
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

  function cancelButton(job) {
    const button = text("button", "secondary small", "Cancel");
    button.type = "button";
    button.dataset.testid = "cancel-job";
    button.addEventListener("click", function () {
      const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
      fetch(`/studio/jobs/${job.id}/cancel/`, {
        method: "POST",
        headers: { "X-CSRFToken": csrf, Accept: "application/json" },
        credentials: "same-origin",
      });
    });
    return button;
  }

  function render(job) {
    const row = document.createElement("li");
    row.className = `job job-${job.state}`;
    row.dataset.jobId = job.id;
    row.dataset.state = job.state;
    row.appendChild(text("p", "prompt", job.prompt));
    row.appendChild(text("span", `state state-${job.state}`, job.state_label));
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = job.percent;
    bar.dataset.testid = "job-progress";
    bar.setAttribute("aria-label", `progress ${job.percent}%`);
    row.appendChild(bar);
    row.appendChild(text("span", "progress-text", progressLine(job)));
    if (job.error) row.appendChild(text("p", "error", job.error));
    if (job.state === "queued" || job.state === "running") row.appendChild(cancelButton(job));
    if (job.output) row.appendChild(outputBlock(job));
    if (job.state === "running" && previews.has(job.id)) {
      row.appendChild(previewImage(previews.get(job.id)));
    }
    if (job.state !== "running") previews.delete(job.id);
    return row;
  }

  function upsert(job) {
    const fresh = render(job);
    const old = list.querySelector(`[data-job-id="${job.id}"]`);
    if (old) {
      old.replaceWith(fresh);
    } else {
      list.prepend(fresh);
    }
    jobs.set(job.id, job);
    empty.hidden = jobs.size > 0;
  }

  function previewImage(preview) {
    const image = document.createElement("img");
    image.className = "preview";
    image.alt = "preview of the video being made";
    image.dataset.testid = "job-preview";
    image.src = preview.image;
    image.title = `preview at step ${preview.step} of ${preview.total_steps}`;
    return image;
  }

  function showPreview(preview) {
    previews.set(preview.job_id, preview);
    const row = list.querySelector(`[data-job-id="${preview.job_id}"]`);
    if (!row || row.dataset.state !== "running") return;
    const old = row.querySelector("img.preview");
    if (old) old.replaceWith(previewImage(preview));
    else row.appendChild(previewImage(preview));
  }

  function replaceAll(all) {
    list.replaceChildren();
    jobs.clear();
    all.slice().reverse().forEach(upsert);
    empty.hidden = jobs.size > 0;
  }

  function accessEnded(message) {
    // The server closed this page's access: say so and disable everything on it.
    if (document.getElementById("access-ended")) return;
    const banner = document.createElement("div");
    banner.id = "access-ended";
    banner.className = "access-ended";
    banner.dataset.testid = "access-revoked";
    const what = message.standing === "paused" ? "The alpha program is paused" : "Access revoked";
    banner.textContent = message.reason ? `${what}: ${message.reason}` : `${what}.`;
    document.querySelector("main").prepend(banner);
    document.querySelectorAll("main button, main input, main textarea, main select").forEach(
      function (control) { control.disabled = true; }
    );
    // The server stopped this user's queued and running jobs with the same action.
    list.querySelectorAll('[data-state="running"], [data-state="queued"]').forEach(function (row) {
      row.dataset.state = "cancelled";
      row.querySelector(".progress-text").textContent = "stopped: access ended";
    });
  }

  replaceAll(JSON.parse(document.getElementById("initial-jobs").textContent));
  window.Vernissage.live.connect(document.getElementById("live-status"), {
    snapshot: function (message) { replaceAll(message.jobs); },
    job: function (message) { upsert(message.job); },
    preview: function (message) { showPreview(message.preview); },
    accessEnded: accessEnded,
  });
})();
