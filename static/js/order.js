/* The order page: live progress by polling the order's JSON, the gallery, a
   full-size viewer, and canceling a queued order. */
(function () {
  "use strict";
  var P = window.Portal;
  var root = document.getElementById("order");
  var order = JSON.parse(document.getElementById("order-data").textContent);
  var pollMs = parseInt(root.dataset.pollMs, 10) || 2000;
  var statusBadge = document.getElementById("order-status");
  var progressCard = document.getElementById("order-progress-card");
  var progress = document.getElementById("order-progress");
  var progressText = document.getElementById("order-progress-text");
  var cancelForm = document.getElementById("cancel-form");
  var errorBox = document.getElementById("order-error");
  var gallery = document.getElementById("gallery");
  var zip = document.getElementById("order-zip");
  var viewer = document.getElementById("viewer");
  var viewerImage = document.getElementById("viewer-image");
  var viewerDownload = document.getElementById("viewer-download");
  var finished = ["succeeded", "failed", "canceled"];

  function label(status) { return status.charAt(0).toUpperCase() + status.slice(1); }

  var canRedo = gallery.dataset.canRedo === "true";
  var galleryHead = document.getElementById("gallery-head");
  var moreForm = document.getElementById("more-form");

  function link(href, text, download) {
    var anchor = document.createElement("a");
    anchor.href = href; anchor.textContent = text;
    if (download) { anchor.setAttribute("download", ""); }
    return anchor;
  }

  /* Mirrors the server-rendered gallery: best match first (the server sorts, and a
     redo keeps the place of the headshot it replaces), the likeness in words with the
     number on hover and focus, downloads, the previous version, the redo or its
     progress. */
  function redoStatus(redo) {
    var status = document.createElement("span");
    status.className = "redo-status";
    status.setAttribute("role", "status");
    status.tabIndex = -1;
    var words = document.createElement("strong");
    words.textContent = "Redoing…";
    var meter = document.createElement("progress");
    meter.className = "meter"; meter.max = redo.total; meter.value = redo.done;
    meter.setAttribute("aria-label", "Redo progress");
    var stage = document.createElement("span");
    stage.className = "muted";
    stage.textContent = redo.stage || (redo.status === "queued" ? "In the queue" : "Starting");
    status.append(words, " ", meter, " ", stage);
    return status;
  }

  function renderGallery(data) {
    gallery.textContent = "";
    var isFinished = finished.indexOf(data.status) !== -1;
    data.headshots.forEach(function (headshot) {
      var figure = document.createElement("figure");
      figure.className = "gallery-item" + (headshot.redo && headshot.redo.running ? " gallery-item-redoing" : "");
      figure.dataset.headshotId = headshot.id;
      var viewerLink = link(headshot.url, "", false);
      viewerLink.dataset.viewer = "";
      var image = document.createElement("img");
      image.src = headshot.thumbnail_url; image.loading = "lazy";
      var styleName = headshot.style_name || headshot.style;
      image.alt = styleName + " headshot " + (headshot.index + 1);
      viewerLink.append(image);
      var caption = document.createElement("figcaption");
      caption.className = "small";
      var head = document.createElement("span");
      head.className = "row gallery-caption";
      var name = document.createElement("span");
      name.textContent = styleName;
      var likeness = document.createElement("span");
      likeness.className = "likeness likeness-" + headshot.likeness_tone; likeness.tabIndex = 0;
      likeness.title = headshot.likeness_title;
      likeness.dataset.score = headshot.likeness_score;
      likeness.setAttribute("aria-label", headshot.likeness_label + ": " + headshot.likeness_title);
      likeness.textContent = headshot.likeness_label;
      head.append(name, likeness);
      var links = document.createElement("span");
      links.className = "gallery-links";
      links.append(link(headshot.download_url, "Full " + headshot.width + " px", true));
      headshot.crops.forEach(function (crop) { links.append(" ", link(crop.url, crop.label, true)); });
      if (headshot.previous_url) {
        var previous = link(headshot.previous_url, "Previous version", false);
        previous.dataset.viewer = "";
        previous.dataset.alt = "The previous version of this " + styleName + " headshot";
        links.append(" ", previous);
      }
      caption.append(head, links);
      if (headshot.redo && headshot.redo.running) {
        caption.append(redoStatus(headshot.redo));
      } else if (canRedo && isFinished) {
        if (headshot.redo && headshot.redo.status === "failed") {
          var failed = document.createElement("span");
          failed.className = "muted";
          failed.textContent = "The last redo could not be made; it was not counted.";
          caption.append(failed);
        }
        var redo = document.createElement("button");
        redo.type = "button"; redo.className = "link small";
        redo.textContent = "Redo this one · uses 1";
        redo.dataset.redoUrl = headshot.redo_url;
        caption.append(redo);
      }
      figure.append(viewerLink, caption);
      gallery.append(figure);
    });
  }

  function showError(message) {
    document.getElementById("order-error-message").textContent = message;
    document.getElementById("order-error-hint").textContent = "";
    errorBox.hidden = false;
  }

  /* The questions before ordering again say what is left of the month's quota, as the
     page was drawn; a redo placed from this page (which stays) uses one of it. */
  var remaining = parseInt(root.dataset.quotaRemaining, 10);
  function ask(question) {
    var left = remaining + " headshot" + (remaining === 1 ? "" : "s") + " you have left";
    return window.confirm(question.replace(/\d+ headshots? you have left/, left));
  }

  function placeAgain(url, question) {
    if (!ask(question)) { return; }
    P.requestJSON("POST", url).then(function (placed) {
      window.location.assign(placed.urls.page);
    }, function (error) { showError(error.message); });
  }

  /* A redo stays on this page: the card says "Redoing…" and follows it until the new
     headshot takes its place. Focus goes to that status, so a keyboard user is not
     dropped at the top of the page when the card is drawn again. */
  var focusAfterRender = null;
  function redoHere(url, figure) {
    if (!ask(gallery.dataset.redoConfirm)) { return; }
    P.requestJSON("POST", url).then(function () {
      remaining -= 1;
      focusAfterRender = figure && figure.dataset.headshotId;
      refresh();
    }, function (error) { showError(error.message); });
  }

  document.querySelectorAll(".confirm-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (form.hasAttribute("data-redo")) {
        redoHere(form.action, form.closest("figure"));
      } else {
        placeAgain(form.action, form.dataset.confirm);
      }
    });
  });
  gallery.addEventListener("click", function (event) {
    var button = event.target.closest("[data-redo-url]");
    if (button) { redoHere(button.dataset.redoUrl, button.closest("figure")); }
  });

  function gallerySignature(data) {
    return JSON.stringify(data.headshots.map(function (headshot) {
      var redo = headshot.redo;
      return [headshot.id, redo && [redo.status, redo.done, redo.stage]];
    })) + data.status;
  }
  var drawn = gallerySignature(order);

  function render(data) {
    order = data;
    statusBadge.className = "badge badge-" + data.status;
    statusBadge.textContent = label(data.status);
    var p = data.progress;
    progress.max = p.total; progress.value = p.done;
    // A queued order says where it stands: its place and expected start, or that no
    // generator is running at all.
    progressText.textContent = data.queue ? data.queue.message
      : p.done + " of " + p.total + " done" + (p.stage ? " · " + p.stage : "");
    progressText.classList.toggle("notice-warn", Boolean(data.queue && !data.queue.generator_running));
    cancelForm.hidden = data.status !== "queued";
    progressCard.hidden = finished.indexOf(data.status) !== -1;
    if (data.error) {
      document.getElementById("order-error-message").textContent = data.error.message;
      document.getElementById("order-error-hint").textContent = data.error.hint;
      errorBox.hidden = false;
    }
    var nowFinished = finished.indexOf(data.status) !== -1;
    var signature = gallerySignature(data);
    if (signature !== drawn) {
      renderGallery(data);
      drawn = signature;
      var card = focusAfterRender && gallery.querySelector("[data-headshot-id='" + focusAfterRender + "'] .redo-status");
      if (card) { card.focus(); }
      focusAfterRender = null;
    }
    zip.hidden = data.headshots.length === 0;
    galleryHead.hidden = data.headshots.length === 0;
    if (moreForm) { moreForm.hidden = !nowFinished; }
  }

  /* Polls while the order runs, and after it while one of its headshots is redone. */
  var failures = 0;
  var timer = null;
  function following() { return finished.indexOf(order.status) === -1 || order.redoing; }
  function later(ms) { window.clearTimeout(timer); timer = window.setTimeout(poll, ms); }
  function poll() {
    if (!following()) { return; }
    refresh();
  }
  function refresh() {
    P.requestJSON("GET", order.urls.status).then(function (data) {
      failures = 0;
      render(data);
      if (following()) { later(pollMs); }
    }, function () {
      // Back off while the connection is down (a phone going through a tunnel).
      failures += 1;
      later(Math.min(pollMs * Math.pow(2, failures), 30000));
    });
  }
  later(pollMs);

  cancelForm.addEventListener("submit", function (event) {
    event.preventDefault();
    P.requestJSON("POST", order.urls.cancel).then(render, function (error) {
      progressText.textContent = error.message;
    });
  });

  gallery.addEventListener("click", function (event) {
    var link = event.target.closest("[data-viewer]");
    if (!link || typeof viewer.showModal !== "function") { return; }
    event.preventDefault();
    viewerImage.src = link.href;
    viewerImage.alt = link.dataset.alt || link.querySelector("img").alt;
    viewerDownload.href = link.href + "?download=1";
    viewer.showModal();
  });
  document.getElementById("viewer-close").addEventListener("click", function () { viewer.close(); });
  viewer.addEventListener("click", function (event) { if (event.target === viewer) { viewer.close(); } });
})();
