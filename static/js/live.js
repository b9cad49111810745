// The one websocket client of every page. A page calls
//
//   Vernissage.live.connect(document.getElementById("live-status"), {
//     snapshot(message) {…}, job(message) {…}, accessEnded(message) {…},
//   });
//
// with the element that carries `data-live-url` (the path of its socket, e.g. "/ws/studio/") and
// shows the connection's state (data-state: connecting, live, offline, ended). Messages are JSON
// objects dispatched by their `type` to the handler of that name; types a page has no handler for
// are ignored. The close codes the server refuses with are handled here, once, for every page.
// When access ends, the words are this module's too: a page's banner with id "access-ended" gets
// the title of its cause (the same titles as the access-ended page, access/wording.py).
(function () {
  "use strict";
  const FIRST_RETRY_MS = 500;
  const MAX_RETRY_MS = 10000;
  const CLOSE_SIGNED_OUT = 4401;
  const CLOSE_ACCESS_ENDED = 4403;
  const CLOSE_NOT_FOUND = 4404;
  // RFC 6455 "service restart": uvicorn closes every socket with it when it shuts down (a deploy
  // or a restart); the page says so and comes back when the server does.
  const CLOSE_SERVICE_RESTART = 1012;

  // Each cause its own words: a suspended tester, a revoked one, a suspended cohort and a paused
  // program do not read alike. `kind` names a suspended cohort when the server sends it.
  const ENDED_TITLES = {
    suspended: "Your access is suspended",
    revoked: "Your access has been revoked",
    cohort_suspended: "Your cohort is suspended",
    paused: "The alpha program is paused",
    expired: "Your alpha window is closed",
  };
  const ENDED_STATUS = {
    suspended: "access suspended",
    revoked: "access revoked",
    cohort_suspended: "cohort suspended",
    paused: "program paused",
    expired: "alpha window closed",
  };

  function endedCause(message) {
    return message.kind || message.standing || "";
  }

  function endedText(message) {
    const title = ENDED_TITLES[endedCause(message)] || "Your access has ended";
    return message.reason ? `${title}: ${message.reason}` : `${title}.`;
  }

  function socketUrl(path) {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    return new URL(path, `${scheme}://${window.location.host}/`).href;
  }

  function parse(data) {
    try {
      const message = JSON.parse(data);
      return message && typeof message.type === "string" ? message : null;
    } catch (error) {
      return null; // not one of ours: nothing to dispatch
    }
  }

  // Equal jitter: between half and all of an exponentially growing delay, so pages that lost the
  // server together do not all come back in the same instant.
  function retryDelay(attempt) {
    const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  function connect(element, handlers) {
    const url = socketUrl(element.dataset.liveUrl);
    let attempt = 0;
    let stopped = false;
    let endedBy = null; // the server's "access_ended" message, once it came

    function setStatus(state, label) {
      element.dataset.state = state;
      element.textContent = label;
    }

    function call(name, message) {
      if (Object.prototype.hasOwnProperty.call(handlers, name)) handlers[name](message);
    }

    function stop(state, label) {
      stopped = true;
      setStatus(state, label);
    }

    function accessEnded(message) {
      if (endedBy) return;
      endedBy = message;
      stop("ended", ENDED_STATUS[endedCause(message)] || "access ended");
      call("accessEnded", message);
      const banner = document.getElementById("access-ended");
      if (banner) banner.textContent = endedText(message);
    }

    function onMessage(event) {
      const message = parse(event.data);
      if (!message) return;
      // The server sends this just before closing with 4403: act on it now, not at the close.
      if (message.type === "access_ended") accessEnded(message);
      else call(message.type, message);
    }

    function onClose(event) {
      if (event.code === CLOSE_ACCESS_ENDED) {
        accessEnded({ type: "access_ended", standing: "", reason: "" });
      } else if (event.code === CLOSE_SIGNED_OUT) {
        stop("ended", "signed out — reload the page");
      } else if (event.code === CLOSE_NOT_FOUND) {
        stop("ended", "ended");
      }
      if (stopped) return;
      if (event.code === CLOSE_SERVICE_RESTART) {
        setStatus("offline", "server restarting — reconnecting…");
        attempt = Math.max(attempt, 2); // give it a moment to come back before the first try
      } else {
        setStatus("offline", "reconnecting…");
      }
      window.setTimeout(open, retryDelay(attempt));
      attempt += 1;
    }

    function open() {
      const socket = new WebSocket(url);
      socket.onopen = function () {
        attempt = 0;
        setStatus("live", "live");
      };
      socket.onmessage = onMessage;
      socket.onclose = onClose;
    }

    open();
  }

  window.Vernissage = window.Vernissage || {};
  window.Vernissage.live = { connect: connect, endedText: endedText };
})();
