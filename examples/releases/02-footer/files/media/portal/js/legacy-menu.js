// Highlights the menu item of the current page (to be replaced by the template's own menu).
document.querySelectorAll('nav a').forEach(function (a) {
  if (a.href === location.href) { a.classList.add('current'); }
});
