// An htmx action that fails must say so: htmx swaps nothing on an error answer, so without
// this a refused or failed button would look as if nothing happened.
(function () {
  "use strict";

  var WHY = {
    400: "the request was refused",
    403: "your role does not allow this, or the page is out of date (reload it)",
    404: "it no longer exists (reload the page)",
    409: "someone else changed it meanwhile (reload the page)",
  };

  function show(message) {
    var banner = document.getElementById("action-error");
    if (!banner) {
      banner = document.createElement("p");
      banner.id = "action-error";
      banner.className = "flash flash-error";
      banner.setAttribute("role", "alert");
      document.querySelector("main").prepend(banner);
    }
    banner.textContent = message;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var type = xhr.getResponseHeader("Content-Type") || "";
    // A plain-text answer is the server's own sentence: its closing full stop is the banner's.
    var text = type.indexOf("text/plain") === 0 ? xhr.responseText.trim().slice(0, 300).replace(/\.$/, "") : "";
    show("That did not work (" + xhr.status + "): " + (text || WHY[xhr.status] || "the server could not complete it; try again") + ".");
  });

  document.addEventListener("htmx:sendError", function () {
    show("The server could not be reached. Check the connection and try again.");
  });
})();

// A box with data-select-all="F" ticks or unticks every box that belongs to form F (a list's
// rows, whose boxes name the list's bulk form): one click for a whole page.
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var all = event.target;
    if (!all.matches || !all.matches("input[type=checkbox][data-select-all]")) {
      return;
    }
    var boxes = document.querySelectorAll('input[type=checkbox][form="' + all.getAttribute("data-select-all") + '"]');
    boxes.forEach(function (box) {
      box.checked = all.checked;
    });
  });
})();
