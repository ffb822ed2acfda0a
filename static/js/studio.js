/* The studio page: drag-and-drop upload with preview and size check, photo choice,
   style picker and ordering, all without a page reload. */
(function () {
  "use strict";
  var P = window.Portal;
  var limits = JSON.parse(document.getElementById("studio-limits").textContent);
  var uploadForm = document.getElementById("upload-form");
  var input = document.getElementById("image-input");
  var dropzone = document.getElementById("dropzone");
  var preview = document.getElementById("upload-preview");
  var uploadStatus = document.getElementById("upload-status");
  var uploadError = document.getElementById("upload-error");
  var progress = document.getElementById("upload-progress");
  var orderForm = document.getElementById("order-form");
  var photoList = document.getElementById("photo-list");
  var noPhotos = document.getElementById("no-photos");
  var orderError = document.getElementById("order-error");
  var orderButton = document.getElementById("order-button");
  var summary = document.getElementById("order-summary");
  var perStyle = document.getElementById("per-style");
  var upgradePrompt = document.getElementById("upgrade-prompt");
  var remaining = parseInt(document.getElementById("quota-remaining").textContent, 10);
  var previewUrl = null;

  /* Finished steps fold into one line (a <details>: its summary is the "Change"
     control, Enter or Space opens it again). */
  function foldStep(stepId, doneId) {
    var step = document.getElementById(stepId);
    var done = document.getElementById(doneId);
    if (!step || !done.textContent.trim()) { return; }
    done.hidden = false;
    step.open = false;
  }

  /* The photo step's one line: the chosen selfie, small, once its face is found. */
  function photoDone() {
    var radio = photoList.querySelector("input[name=photo]:checked");
    var check = radio && radio.closest(".photo-choice").querySelector(".photo-check");
    var ok = Boolean(check && check.dataset.checkStatus === "ok");
    document.getElementById("photo-done-thumb").src = ok ? radio.parentNode.querySelector("img").src : "";
    document.getElementById("photo-done").hidden = !ok;
  }

  function megabytes(bytes) { return (bytes / 1024 / 1024).toFixed(1) + " MB"; }

  function isHeic(file) { return /\.(heic|heif)$/i.test(file.name) || /heic|heif/i.test(file.type); }

  /* Checks the browser can make before sending anything; the server checks again. */
  function checkFile(file) {
    if (file.size > limits.maxBytes) {
      return "This file is " + megabytes(file.size) + "; the limit is " + megabytes(limits.maxBytes) + ". Export a smaller copy and try again.";
    }
    if (file.size === 0) { return "The file is empty."; }
    if (file.type && !/^image\//.test(file.type) && !isHeic(file)) {
      return "This is not a photo. Choose a JPEG, PNG, WebP or HEIC image.";
    }
    return "";
  }

  function showPreview(file) {
    if (previewUrl) { URL.revokeObjectURL(previewUrl); previewUrl = null; }
    preview.hidden = true;
    if (isHeic(file)) { return Promise.resolve(); } // Most browsers cannot draw HEIC; the server can.
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
    preview.hidden = false;
    return new Promise(function (resolve) {
      preview.onload = function () {
        var shortSide = Math.min(preview.naturalWidth, preview.naturalHeight);
        if (shortSide && shortSide < limits.minSide) {
          P.show(uploadError, "This photo is " + preview.naturalWidth + "×" + preview.naturalHeight + "; its short side must be at least " + limits.minSide + " px. Use the original photo, not a thumbnail.");
          resolve(false);
        } else { resolve(true); }
      };
      preview.onerror = function () { preview.hidden = true; resolve(true); };
    });
  }

  function addPhoto(photo) {
    var item = document.createElement("div");
    item.className = "photo-choice";
    item.dataset.photoId = photo.id;
    var label = document.createElement("label");
    var radio = document.createElement("input");
    radio.type = "radio"; radio.name = "photo"; radio.value = photo.id; radio.checked = true;
    var image = document.createElement("img");
    image.src = photo.preview_url; image.alt = "Your selfie"; image.width = 96; image.height = 96;
    label.append(radio, image);
    var check = document.createElement("span");
    check.setAttribute("role", "status");
    check.dataset.statusUrl = photo.status_url;
    showCheck(item, check, photo.check);
    var note = document.createElement("span");
    note.className = "muted small";
    note.textContent = "Deleted automatically " + P.relativeTime(photo.purge_at);
    var remove = document.createElement("button");
    remove.type = "submit"; remove.className = "link small"; remove.textContent = "Delete now";
    remove.setAttribute("formaction", photo.delete_url);
    remove.dataset.deletePhoto = "";
    item.append(label, check, note, remove);
    photoList.prepend(item);
    noPhotos.hidden = true;
    if (photo.check.status === "pending") { watchCheck(item, check); }
  }

  /* The face check: the GPU worker answers within seconds; until then the photo says
     it is being checked, and a photo turned down cannot be picked. */
  var CHECK_POLL_MS = 1000;
  var CHECK_SLOW_AFTER = 8;

  function showCheck(item, element, check, slow) {
    element.className = "photo-check photo-check-" + check.status;
    element.dataset.checkStatus = check.status;
    if (check.status === "pending") {
      element.textContent = slow ? "Waiting to be checked for a face: our generator is busy or starting, this page updates by itself." : "Checking for a face…";
    } else {
      element.textContent = check.message;
    }
    var radio = item.querySelector("input[name=photo]");
    if (check.status === "ok" && radio.checked) {
      // Uploading and picking the photo are done: fold both, as the page does when it
      // loads with a checked selfie.
      foldStep("upload-step", "upload-done");
      foldStep("photo-step", "photo-done");
      photoDone();
    }
    if (check.status === "rejected") {
      radio.checked = false;
      radio.disabled = true;
      var other = photoList.querySelector("input[name=photo]:not(:disabled)");
      if (other && !photoList.querySelector("input[name=photo]:checked")) { other.checked = true; }
      photoDone();
    }
  }

  function watchCheck(item, element) {
    var polls = 0;
    function poll() {
      if (!item.isConnected) { return; }
      polls += 1;
      P.requestJSON("GET", element.dataset.statusUrl).then(function (photo) {
        showCheck(item, element, photo.check, polls >= CHECK_SLOW_AFTER);
        if (photo.check.status === "pending") { window.setTimeout(poll, CHECK_POLL_MS); }
      }, function () { window.setTimeout(poll, CHECK_POLL_MS * 5); });
    }
    window.setTimeout(poll, CHECK_POLL_MS);
  }

  photoList.querySelectorAll(".photo-check[data-check-status=pending]").forEach(function (element) {
    watchCheck(element.closest(".photo-choice"), element);
  });

  function send(file) {
    P.show(uploadError, "");
    var problem = checkFile(file);
    if (problem) { P.show(uploadError, problem); return; }
    showPreview(file).then(function (ok) {
      if (ok === false) { return; }
      var data = new FormData();
      data.append("image", file);
      progress.hidden = false; progress.value = 0;
      P.show(uploadStatus, "Uploading " + file.name + "…");
      P.upload(uploadForm.action, data, function (percent) {
        progress.value = percent;
        if (percent === 100) { P.show(uploadStatus, "Checking your photo…"); }
      }).then(function (photo) {
        addPhoto(photo);
        P.show(uploadStatus, "Uploaded (" + photo.width + "×" + photo.height + "). We are checking it for a face; meanwhile, choose your styles.");
      }, function (error) {
        P.show(uploadStatus, "");
        P.show(uploadError, error.message);
      }).then(function () { progress.hidden = true; input.value = ""; });
    });
  }

  input.addEventListener("change", function () { if (input.files[0]) { send(input.files[0]); } });
  uploadForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.files[0]) { send(input.files[0]); }
  });
  ["dragenter", "dragover"].forEach(function (name) {
    dropzone.addEventListener(name, function (event) { event.preventDefault(); dropzone.classList.add("dropzone-active"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    dropzone.addEventListener(name, function (event) { event.preventDefault(); dropzone.classList.remove("dropzone-active"); });
  });
  dropzone.addEventListener("drop", function (event) {
    var file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) { send(file); }
  });

  document.querySelectorAll(".photo-choice time").forEach(function (time) {
    time.textContent = P.relativeTime(time.getAttribute("datetime"));
  });

  photoList.addEventListener("click", function (event) {
    var button = event.target.closest("[data-delete-photo]");
    if (!button) { return; }
    event.preventDefault();
    var item = button.closest(".photo-choice");
    P.requestJSON("POST", button.getAttribute("formaction")).then(function () {
      item.remove();
      noPhotos.hidden = photoList.children.length > 0;
      var first = photoList.querySelector("input[name=photo]:not(:disabled)");
      if (first && !photoList.querySelector("input[name=photo]:checked")) { first.checked = true; }
      photoDone();
    }, function (error) { P.show(orderError, error.message); });
  });

  function selectedStyles() {
    return Array.prototype.slice.call(orderForm.querySelectorAll("input[name=styles]:checked"));
  }

  /* The style step's one line: how many styles, and which. */
  var styleDone = document.getElementById("style-done");
  function stylesDone() {
    var names = selectedStyles().map(function (box) { return box.closest(".style-card").dataset.name; });
    styleDone.textContent = names.length ? names.length + " style" + (names.length === 1 ? "" : "s") + ": " + names.join(", ") : "";
    styleDone.hidden = !names.length;
  }
  document.getElementById("styles-done").addEventListener("click", function () {
    stylesDone();
    if (!selectedStyles().length) { P.show(orderError, "Pick at least one style."); return; }
    P.show(orderError, "");
    foldStep("style-step", "style-done");
    // On to what is left: how many of each, then the order button.
    perStyle.focus();
  });
  orderForm.addEventListener("change", function (event) {
    if (event.target.name === "styles") { stylesDone(); }
    if (event.target.name === "photo") { photoDone(); }
  });

  function updateSummary() {
    var boxes = selectedStyles();
    var count = boxes.length * (parseInt(perStyle.value, 10) || 0);
    var locked = boxes.filter(function (box) { return box.closest(".style-card").dataset.allowed === "false"; });
    var text = count ? "You are ordering " + count + " headshot" + (count === 1 ? "" : "s") + "; " + remaining + " left this month." : "Pick at least one style.";
    if (count > remaining) {
      text += " That is more than you have left: pick fewer, or upgrade for more.";
      upgradePrompt.hidden = false;
    }
    if (locked.length) { text += " Styles marked Premium need an upgrade."; }
    summary.textContent = text;
  }
  orderForm.addEventListener("change", updateSummary);
  perStyle.addEventListener("input", updateSummary);
  updateSummary();

  orderForm.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.hasAttribute("data-delete-photo")) { return; }
    event.preventDefault();
    P.show(orderError, "");
    var photo = orderForm.querySelector("input[name=photo]:checked");
    if (!photo) { P.show(orderError, "Upload or choose a selfie first."); return; }
    var styles = selectedStyles().map(function (box) { return box.value; });
    if (!styles.length) { P.show(orderError, "Pick at least one style."); return; }
    orderButton.disabled = true;
    P.requestJSON("POST", orderForm.action, {
      photo: parseInt(photo.value, 10), styles: styles, per_style: parseInt(perStyle.value, 10)
    }).then(function (order) {
      window.location.assign(order.urls.page);
    }, function (error) {
      P.show(orderError, error.message);
      // 402: over quota or a style above the plan; the way out is an upgrade.
      if (error.status === 402) { upgradePrompt.hidden = false; }
      orderButton.disabled = false;
    });
  });
})();
