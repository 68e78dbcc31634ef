// Copy buttons: <button data-copy-target="#element-id">Copy</button> copies that element's
// text to the clipboard and says so on the button for a moment.
(function () {
  "use strict";

  function fallbackCopy(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "position-absolute top-0 start-0 opacity-0";
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const source = document.querySelector(button.getAttribute("data-copy-target"));
    if (!source) return;
    const text = source.textContent.trim();
    const copying = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text)
      : fallbackCopy(text);
    const label = button.textContent;
    copying.then(
      function () {
        button.textContent = "Copied";
        button.setAttribute("data-copied", "true");
        setTimeout(function () { button.textContent = label; }, 1500);
      },
      function () { button.textContent = "Select and copy"; }
    );
  });
})();
