// DropWave order page (docs/adr/0011-storefront.md, "The order page"): the order token comes
// in the URL's fragment (#t=..., never sent to a server), is kept in sessionStorage and taken
// out of the address bar; the order is read and cancelled through the public API with the
// token in the X-Order-Token header, and polled while it can still change.
(() => {
  'use strict';
  const section = document.getElementById('order');
  if (!section || !window.dropwaveLink) return;
  const id = section.dataset.orderId;
  const buyer = document.getElementById('order-buyer');
  const state = document.getElementById('order-state');
  const alertLine = document.getElementById('order-error');
  const cancelButton = document.getElementById('order-cancel');
  const { money } = window.dropwaveLink;
  const fail = window.dropwaveLink.alert(alertLine);
  const token = window.dropwaveLink.token('order', id, '[0-9a-f]{64}');
  if (!token) {
    state.textContent = 'Open this page from the link in your confirmation email to see your order.';
    return;
  }

  const CANCELLABLE = ['pending', 'requires_action', 'authorized'];
  const FINAL = ['cancelled', 'failed', 'refunded'];
  const words = (order) => {
    const amount = money(order.amount_cents, order.currency);
    switch (order.status) {
      case 'pending':
        return 'We are confirming your card…';
      case 'requires_action':
        return 'Your bank wants to confirm this payment. Finish it on the drop\'s page, or cancel this order here.';
      case 'authorized':
        return `Your card is authorized for ${amount}, not charged. You are charged only if the drop reaches its minimum by the deadline.`;
      case 'captured':
        return `The drop happened: your card was charged ${amount}.`;
      case 'capture_failed':
        return 'The drop happened, but we couldn\'t charge your card. Check your email for a link to pay.';
      case 'failed':
        return 'Your card was declined, so this order didn\'t go through. Nothing was charged.';
      case 'cancelled':
        return order.cancel_reason === 'not_authorized_in_time'
          ? 'The drop closed before your card was confirmed, so this order was cancelled. Nothing was charged.'
          : 'This order is cancelled. The hold on your card is released; nothing is charged.';
      case 'refunded':
        return `This order was refunded (${money(order.refunded_cents || order.amount_cents, order.currency)}).`;
      default:
        return 'We have your order.';
    }
  };
  const show = (order) => {
    buyer.textContent = `You're buyer #${order.buyer_number}`;
    buyer.hidden = false;
    state.textContent = words(order);
    cancelButton.hidden = !CANCELLABLE.includes(order.status);
  };
  const CANCEL_WORDS = {
    deadline_passed: 'The deadline has passed, so this order can no longer be cancelled.',
    campaign_closed: 'This drop has closed, so this order can no longer be cancelled.',
    campaign_cancelled: 'This drop was cancelled; nothing will be charged.',
    order_not_cancellable: 'This order can no longer be cancelled.',
  };
  const NOT_FOUND = 'We can\'t find this order. Open this page from the link in your confirmation email.';
  const OFFLINE = 'We couldn\'t reach DropWave just now. We\'ll keep trying.';

  const api = (path, method) => fetch(path, {
    method, headers: { 'X-Order-Token': token }, cache: 'no-store',
  });

  let timer = 0;
  let delay = 2000;
  const load = async () => {
    let response = null;
    try {
      response = await api(`/api/v1/orders/${id}`, 'GET');
    } catch (e) {
      response = null;
    }
    if (response && response.status === 404) {
      await response.text().catch(() => ''); // read to its end, as pay.js does
      state.textContent = NOT_FOUND;
      cancelButton.hidden = true;
      return;
    }
    const order = response && response.ok ? await response.json().catch(() => null) : null;
    if (order) {
      fail('');
      show(order);
      if (FINAL.includes(order.status)) return;
      delay = ['pending', 'requires_action'].includes(order.status) ? 2000 : 15000;
    } else {
      fail(OFFLINE);
      delay = Math.min(delay * 2, 30000);
    }
    timer = setTimeout(load, delay);
  };

  let busy = false;
  cancelButton.addEventListener('click', async () => {
    if (busy) return;
    busy = true;
    cancelButton.disabled = true;
    fail('');
    try {
      const response = await api(`/api/v1/orders/${id}/cancel`, 'POST');
      const answer = await response.json().catch(() => ({}));
      if (response.ok) {
        clearTimeout(timer);
        show(answer);
      } else if (response.status === 404) {
        fail(NOT_FOUND);
      } else if (CANCEL_WORDS[answer.code]) {
        fail(CANCEL_WORDS[answer.code]);
        cancelButton.hidden = true;
      } else if (response.status === 429) {
        fail('Too many attempts right now. Please wait a minute and try again.');
      } else {
        fail('Something went wrong on our side, and your order is unchanged. Please try again.');
      }
    } catch (e) {
      fail('We couldn\'t reach DropWave. Check your connection and try again; your order is unchanged.');
    } finally {
      busy = false;
      cancelButton.disabled = false;
    }
  });

  state.textContent = 'Loading your order…';
  load();
})();
