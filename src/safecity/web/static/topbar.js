// The top bar folds its page links into the menu whenever they do not fit beside the account,
// whatever the width and however many pages the role has (CSS alone folds below 1100 px only).

const bar = document.querySelector('.topbar.folds');

function fit() {
  bar.classList.remove('crowded');
  // Measured unfolded; adding the class back before the next paint does not flicker.
  if (bar.scrollWidth > bar.clientWidth) bar.classList.add('crowded');
}

if (bar) {
  fit();
  window.addEventListener('resize', fit);
  document.fonts.ready.then(fit);  // the web font's widths differ from the fallback's
}
