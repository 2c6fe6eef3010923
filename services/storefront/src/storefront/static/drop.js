// DropWave drop page: the live count and activity (campaigns' SSE stream), the countdown to
// the deadline, the share button. Enhancement only: without it the page reads the same.
(() => {
  'use strict';
  // The view, and later a share, counted with the visitor's referral code and source (the
  // creator's stats; the server put them on the checkout section).
  const checkout = document.getElementById('checkout');
  const params = new URLSearchParams();
  if (checkout && checkout.dataset.ref) params.set('ref', checkout.dataset.ref);
  if (checkout && checkout.dataset.source) params.set('source', checkout.dataset.source);
  const attributed = (url) => (params.toString() ? `${url}?${params}` : url);
  const viewed = document.querySelector('.status[data-view]');
  if (viewed) {
    fetch(attributed(viewed.dataset.view), { method: 'POST' }).then((r) => r.text()).catch(() => {});
  }

  const status = document.querySelector('.status[data-live]');
  if (!status) return;

  // The countdown, from the page's <time datetime> (absolute UTC).
  const time = status.querySelector('time[datetime]');
  const countdown = document.getElementById('countdown');
  const end = time ? Date.parse(time.getAttribute('datetime')) : NaN;
  if (countdown && !Number.isNaN(end)) {
    const pad = (n) => String(n).padStart(2, '0');
    let timer = 0;
    const tick = () => {
      const left = Math.ceil((end - Date.now()) / 1000);
      if (left <= 0) {
        countdown.textContent = 'Orders have closed.';
        clearInterval(timer);
        return;
      }
      const days = Math.floor(left / 86400);
      const clock = `${pad(Math.floor((left % 86400) / 3600))}:${pad(Math.floor((left % 3600) / 60))}:${pad(left % 60)}`;
      countdown.textContent = `Ends in ${days ? `${days} ${days === 1 ? 'day' : 'days'} ` : ''}${clock}`;
    };
    countdown.hidden = false;
    tick();
    timer = setInterval(tick, 1000);
  }

  // The live count and activity.
  const strong = status.querySelector('#joined strong');
  const bar = status.querySelector('progress');
  const list = document.getElementById('activity');
  const parse = (text) => {
    try { return JSON.parse(text); } catch (e) { return null; }
  };
  if ('EventSource' in window && strong && bar) {
    const source = new EventSource(status.dataset.live);
    source.addEventListener('counter', (event) => {
      const counter = parse(event.data);
      if (!counter || !Number.isInteger(counter.current_orders)) return;
      strong.textContent = String(counter.current_orders);
      bar.value = Math.min(counter.current_orders, bar.max);
      bar.textContent = `${counter.current_orders} of ${bar.max}`;
    });
    source.addEventListener('activity', (event) => {
      const entry = parse(event.data);
      if (!entry || typeof entry.message !== 'string' || !list) return;
      const item = document.createElement('li');
      item.textContent = entry.message;
      list.prepend(item);
      while (list.children.length > 5) list.lastElementChild.remove();
      list.hidden = false;
    });
    window.addEventListener('pagehide', () => source.close());
  }

  // Share: count it, then the system's share sheet, or copy the link.
  const share = document.getElementById('share');
  const note = document.getElementById('share-note');
  if (share && note) {
    share.hidden = false;
    share.addEventListener('click', async () => {
      fetch(attributed(share.dataset.count), { method: 'POST' }).then((r) => r.text()).catch(() => {});
      const url = share.dataset.url;
      if (navigator.share) {
        try { await navigator.share({ title: document.title, url }); } catch (e) { /* dismissed */ }
        return;
      }
      try {
        await navigator.clipboard.writeText(url);
        note.textContent = 'Link copied.';
      } catch (e) {
        note.textContent = `Copy this link: ${url}`;
      }
    });
  }
})();
