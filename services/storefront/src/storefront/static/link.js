// DropWave: what the order page and the pay page share. A link from our mail carries its
// token in the URL's fragment (#t=...): browsers never send a fragment, so it is in no
// server's log and no Referer. `token` reads it (once), keeps it in sessionStorage for
// reloads and takes it out of the address bar; `money` formats an amount; `alert` makes a
// function that shows a sentence in a role="alert" line (or hides it when empty).
window.dropwaveLink = {
  token(kind, id, pattern) {
    const key = `dropwave:${kind}:${id}`;
    const match = new RegExp(`(?:^#|&)t=(${pattern})(?:&|$)`).exec(window.location.hash);
    if (match) {
      try { sessionStorage.setItem(key, match[1]); } catch (e) { /* kept in memory only */ }
      history.replaceState(null, '', window.location.pathname + window.location.search);
      return match[1];
    }
    try { return sessionStorage.getItem(key); } catch (e) { return null; }
  },
  money(cents, currency) {
    try {
      return new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() })
        .format(cents / 100);
    } catch (e) {
      return `${(cents / 100).toFixed(2)} ${currency.toUpperCase()}`;
    }
  },
  alert(line) {
    return (text) => {
      line.textContent = text;
      line.hidden = !text;
    };
  },
};
