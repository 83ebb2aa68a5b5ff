// Combined view: the checked arrays, in page order, as one neuroglancer state.
(function () {
  const button = document.getElementById('open-combined');
  const boxes = () => Array.from(document.querySelectorAll('input[name=layer]'));
  const update = () => {
    const n = boxes().filter((b) => b.checked).length;
    button.disabled = n === 0;
    button.textContent = n > 1 ? 'Open ' + n + ' arrays in neuroglancer' : 'Open in neuroglancer';
  };
  document.addEventListener('change', (e) => { if (e.target.name === 'layer') update(); });
  button.addEventListener('click', () => {
    const names = boxes().filter((b) => b.checked).map((b) => encodeURIComponent(b.value));
    if (names.length) window.location.href = button.dataset.href + names.join(',');
  });
  document.querySelectorAll('button.copy').forEach((b) => b.addEventListener('click', () => {
    const text = document.getElementById(b.dataset.target).textContent;
    const done = () => { b.textContent = 'copied'; setTimeout(() => { b.textContent = 'copy'; }, 1500); };
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => {});
  }));
  update();
})();
