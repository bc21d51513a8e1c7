// moor's dashboard: keep <main id="live"> current from the server-sent events at `events`
// (relative, so it works at `/`, `/ui` and behind a proxy's subpath). The page is complete
// without this script; it only swaps in the fragment the server rendered and escaped.
(function () {
  'use strict';
  if (!window.EventSource) return;
  var stream = document.getElementById('stream');
  function state(s) { if (stream) stream.setAttribute('data-state', s); }
  var source = new EventSource('events');
  source.addEventListener('open', function () { state('live'); });
  source.addEventListener('live', function (e) {
    var main = document.getElementById('live');
    if (main) main.innerHTML = e.data;
    state('live');
  });
  // EventSource reconnects by itself; until it does, say the view may be stale.
  source.addEventListener('error', function () { state('offline'); });
})();
