// DropWave pay-later page (docs/adr/0011-storefront.md, "The pay page"): the link's token
// comes in the URL's fragment (#t=..., never sent to a server), is kept in sessionStorage and
// taken out of the address bar; payments' API answers what to pay (token in X-Pay-Token) and
// the card is confirmed with the link's client_secret through Stripe.js, 3-D Secure included.
(() => {
  'use strict';
  const section = document.getElementById('pay');
  if (!section || !window.dropwaveLink) return;
  const id = section.dataset.orderId;
  const state = document.getElementById('pay-state');
  const alertLine = document.getElementById('pay-error');
  const form = document.getElementById('pay-form');
  const button = document.getElementById('pay-button');
  const cardError = document.getElementById('card-error');
  const INVALID = 'This payment link isn\'t valid. Open it again from the latest email we sent you; if it still fails, the link has expired.';
  const EXPIRED = 'This payment link has expired, so this order can no longer be paid. Nothing was charged.';
  const OFFLINE = 'We couldn\'t reach DropWave. Check your connection and reload the page.';

  const { money } = window.dropwaveLink;
  const fail = window.dropwaveLink.alert(alertLine);
  const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
  const token = window.dropwaveLink.token('pay', id, '[0-9]{1,12}\\.[A-Za-z0-9_-]{43}');
  if (!token) {
    state.textContent = '';
    fail(INVALID);
    return;
  }
  // The token names its own expiry (signed: payments checks it); past it, say so at once.
  if (Number(token.split('.')[0]) * 1000 <= Date.now()) {
    state.textContent = '';
    fail(EXPIRED);
    return;
  }

  const read = async () => {
    const response = await fetch(`/api/v1/payments/${id}/pay-later`, {
      headers: { 'X-Pay-Token': token }, cache: 'no-store',
    });
    // Read a refusal to its end: a body left unread is cut off when the buyer leaves the
    // page (Chromium reports that as an aborted request) and its connection is not reused.
    if (response.status === 404) {
      await response.text().catch(() => '');
      return { gone: true };
    }
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  };
  const paid = (info) => {
    form.hidden = true;
    fail('');
    state.textContent = `Paid: ${money(info.amount_cents, info.currency)}. Thank you! Your order is complete.`;
  };

  const start = async () => {
    let info;
    try {
      info = await read();
    } catch (e) {
      fail(OFFLINE);
      return;
    }
    if (info.gone) {
      state.textContent = '';
      fail(INVALID);
      return;
    }
    if (info.status === 'paid') {
      paid(info);
      return;
    }
    const until = new Date(info.pay_later_until).toLocaleString('en-US', {
      dateStyle: 'medium', timeStyle: 'short',
    });
    state.textContent = `To keep your order, pay ${money(info.amount_cents, info.currency)} by ${until}.`;
    if (typeof Stripe !== 'function' || !section.dataset.stripeKey) {
      fail('The card form couldn\'t load. Check your connection and reload the page.');
      return;
    }
    const stripe = Stripe(section.dataset.stripeKey);
    const card = stripe.elements().create('card');
    card.mount('#card-element');
    button.textContent = `Pay ${money(info.amount_cents, info.currency)}`;
    form.hidden = false;

    let busy = false;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (busy) return;
      busy = true;
      button.disabled = true;
      fail('');
      cardError.hidden = true;
      try {
        const result = await stripe.confirmCardPayment(info.client_secret, {
          payment_method: { card },
        });
        if (!result || result.error || !result.paymentIntent
            || result.paymentIntent.status !== 'succeeded') {
          const error = result && result.error;
          const readable = error && error.type === 'card_error' && error.message;
          cardError.textContent = readable || 'Your bank didn\'t confirm this payment, so nothing was charged. Try again or use another card.';
          cardError.hidden = false;
          return;
        }
        state.textContent = 'Payment received; finishing your order…';
        for (let i = 0; i < 30; i += 1) {
          const now = await read().catch(() => null);
          if (now && now.status === 'paid') {
            paid(now);
            return;
          }
          await sleep(1000);
        }
        paid(info);
      } catch (e) {
        fail('Something went wrong on our side. Nothing was charged twice; please try again.');
      } finally {
        busy = false;
        button.disabled = false;
      }
    });
  };
  start();
})();
