// The Now page: refresh the board in place, count down to deadlines, acknowledge without
// leaving the page. Plain fetch polling (the CSP allows only scripts from our origin, so no
// inline handlers): the server renders the board; this file only swaps it in.
(function () {
  "use strict";

  var REFRESH_MS = 15000;
  var BOARD_HEADER = "X-Batchwatch-Board"; // set by web/now_views.py on the board alone
  var container = document.getElementById("now-board");
  if (!container) {
    return;
  }
  var live = document.getElementById("now-live");
  var url = container.getAttribute("data-refresh-url");
  var inFlight = false;
  var stopped = false;

  function say(text) {
    if (live) {
      live.textContent = text;
    }
  }

  function applyTitle() {
    var board = container.querySelector("[data-title]");
    if (board) {
      document.title = board.getAttribute("data-title");
    }
  }

  function span(seconds) {
    var s = Math.abs(Math.round(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var rest = s % 60;
    if (h > 0) {
      return h + "h " + (m < 10 ? "0" : "") + m + "m";
    }
    return m + "m " + (rest < 10 ? "0" : "") + rest + "s";
  }

  // Deadlines count down every second between refreshes.
  function tick() {
    var now = Date.now();
    container.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) {
        return;
      }
      var left = (at - now) / 1000;
      el.textContent = left >= 0 ? "in " + span(left) : span(left) + " ago";
      el.classList.toggle("countdown-soon", left >= 0 && left < 15 * 60);
      el.classList.toggle("countdown-past", left < 0);
    });
  }

  function refresh() {
    if (inFlight || stopped) {
      return Promise.resolve();
    }
    inFlight = true;
    return fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok || response.headers.get(BOARD_HEADER) !== "now") {
          // Signed out (the login page answered) or an error: keep what is shown.
          if (response.redirected) {
            stopped = true;
            say("Signed out: reload the page to sign in again.");
          } else {
            say("Could not refresh (" + response.status + "); trying again shortly.");
          }
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html !== null) {
          container.innerHTML = html;
          applyTitle();
          tick();
          say("Up to date at " + new Date().toLocaleTimeString() + ".");
        }
      })
      .catch(function () {
        say("Offline: trying again shortly.");
      })
      .finally(function () {
        inFlight = false;
      });
  }

  // Acknowledge in place: post the form as it is (CSRF token included), then refresh.
  container.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-now-ack")) {
      return;
    }
    event.preventDefault();
    var button = form.querySelector("button");
    if (button) {
      button.disabled = true;
      button.textContent = "Acknowledging…";
    }
    // Not form.action: the form's <input name="action"> shadows that property.
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
    })
      .then(function (response) {
        say(response.ok ? "Acknowledged." : "Could not acknowledge (" + response.status + ").");
      })
      .catch(function () {
        say("Could not acknowledge: offline?");
      })
      .finally(refresh);
  });

  applyTitle();
  tick();
  window.setInterval(refresh, REFRESH_MS);
  window.setInterval(tick, 1000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
})();
