// The artist's page: notices (a use request, an appeal's outcome) appear live, above everything.
(function () {
  "use strict";
  const list = document.getElementById("notices");

  function show(notice) {
    const item = document.createElement("li");
    item.className = "banner banner-info";
    item.dataset.testid = "notice";
    item.dataset.kind = notice.kind;
    item.textContent = notice.text + " ";
    const link = document.createElement("a");
    link.href = notice.url;
    link.textContent = "Reload the page";
    item.appendChild(link);
    list.prepend(item);
  }

  window.Vernissage.live.connect(document.getElementById("live-status"), {
    notice: function (message) { show(message.notice); },
  });
})();
