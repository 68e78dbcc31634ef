// The receiver form shows only the chosen protocol's settings: each group is a
// <fieldset data-protocol-group="<protocol>">, the protocol a <select name="...protocol">.
// Without JavaScript every group shows; only the chosen protocol's values are used.
(function () {
  "use strict";
  const select = document.querySelector("select[name$='protocol']");
  if (!select) return;
  function show() {
    document.querySelectorAll("[data-protocol-group]").forEach(function (group) {
      group.hidden = group.getAttribute("data-protocol-group") !== select.value;
    });
  }
  select.addEventListener("change", show);
  show();
})();
