'use strict';

const TAX_RATE = 0.2;

function cartTotal(cart) {
  let t = 0;
  for (let i = 0; i < cart.items.length; i++) {
    const it = cart.items[i];
    t += it.price * it.qty;
  }
  return t;
}

function applyDiscount(cart, code) {
  const discounts = { SPRING: 0.1, VIP: 0.25 };
  const rate = discounts[code];
  const total = cartTotal(cart);
  return total - total * rate;
}

function formatPrice(amount, currency) {
  return new Intl.NumberFormat('en-US', {
    style: 'currency',
    currency: currency,
  }).format(amount);
}

function withTax(cart) {
  const subtotal = cartTotal(cart);
  const tax = subtotal * TAX_RATE;
  return { subtotal: subtotal, tax: tax, total: subtotal + tax };
}

function groupByCategory(items) {
  const groups = {};
  for (const item of items) {
    if (!groups[item.category]) {
      groups[item.category] = [];
    }
    groups[item.category].push(item);
  }
  return groups;
}

async function loadCart(userId) {
  const response = await fetch(`/api/carts/${userId}`);
  const data = await response.json();
  return { userId: userId, items: data.items, updated: new Date(data.updated) };
}

module.exports = { cartTotal, applyDiscount, formatPrice, withTax, groupByCategory, loadCart };
