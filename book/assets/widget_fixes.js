// require.js configuration (read when require.js loads, after this script): resolve module
// paths such as @jupyter-widgets/html-manager/dist/... under _static, where the extension
// copied them, not under the page's folder. The widget manager's icon fonts follow it.
var require = { baseUrl: (document.documentElement.dataset.content_root || "") + "_static/" };
// @jupyter-widgets/controls calls MathJax 2's MathJax.Hub.Queue; the book loads MathJax 3.
(function () {
  function shim() {
    var mj = window.MathJax;
    if (!mj || mj.Hub) return;
    mj.Hub = { Queue: function (cmd) {
      var el = cmd && cmd[2];
      var run = function () {
        if (window.MathJax && window.MathJax.typesetPromise) window.MathJax.typesetPromise(el ? [el] : undefined);
      };
      if (window.MathJax.startup && window.MathJax.startup.promise) window.MathJax.startup.promise.then(run);
      else setTimeout(run, 500);
    } };
  }
  shim();
  document.addEventListener("DOMContentLoaded", shim);
  window.addEventListener("load", shim);
})();
