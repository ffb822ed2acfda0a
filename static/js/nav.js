/* The menu button on phones: a real button (Enter and Space open it, aria-expanded says
   whether it is open), and Escape closes the open menu back onto it. Without scripts
   the button stays hidden and the links are simply listed. */
(function () {
  "use strict";
  var button = document.querySelector(".nav-toggle");
  var nav = document.getElementById("site-nav");
  if (!button || !nav) { return; }
  var header = button.closest(".topbar");
  header.classList.add("nav-collapsible");
  button.hidden = false;

  function setOpen(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("nav-open", open);
  }
  button.addEventListener("click", function () {
    setOpen(button.getAttribute("aria-expanded") !== "true");
  });
  // On the header, not the nav: after opening it, focus is still on the button.
  header.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && header.classList.contains("nav-open")) {
      setOpen(false);
      button.focus();
    }
  });
})();
