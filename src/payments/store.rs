//! The payments area's `Store` methods.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{
    Delivery, NewRefund, Open, Opened, PaymentRow, RefundRow, Settle, Settled, Settlement,
};
use crate::bookings::{ConfirmOutcome, Links};
use crate::store::Store;

impl Store {
    /// A payment by id.
    pub async fn payment_by_id(&self, id: Uuid) -> sqlx::Result<Option<PaymentRow>> {
        crate::dispatch!(self, crate::payments => payment_by_id(id))
    }
    /// A payment by reference.
    pub async fn payment_by_reference(&self, reference: &str) -> sqlx::Result<Option<PaymentRow>> {
        crate::dispatch!(self, crate::payments => payment_by_reference(reference))
    }
    /// A payment by reference with the title of its booking's event.
    pub async fn payment_with_title(
        &self,
        reference: &str,
    ) -> sqlx::Result<Option<(PaymentRow, String)>> {
        crate::dispatch!(self, crate::payments => payment_with_title(reference))
    }
    /// A user's payments, newest first, and their total.
    pub async fn payments_of_user(
        &self,
        user_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> sqlx::Result<(Vec<PaymentRow>, i64)> {
        crate::dispatch!(self, crate::payments => payments_of_user(user_id, limit, offset))
    }
    /// The ids of a booking's payments.
    pub async fn payment_ids_of_booking(&self, booking_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
        crate::dispatch!(self, crate::payments => payment_ids_of_booking(booking_id))
    }
    /// Opens PENDING payments (one per booking), extending each hold once, in one transaction;
    /// answers in the order of `batch` (the payments engine's batch).
    pub async fn open_payments(
        &self,
        batch: &[Open],
        now: DateTime<Utc>,
    ) -> sqlx::Result<Vec<Opened>> {
        crate::dispatch!(self, crate::payments => open_many(batch, now))
    }
    /// Records where the buyer pays, once the gateway started the checkout.
    pub async fn set_checkout(
        &self,
        id: Uuid,
        authorization_url: &str,
        gateway_reference: Option<&str>,
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::payments => set_checkout(id, authorization_url, gateway_reference))
    }
    /// Gives up a payment the gateway would not start.
    pub async fn fail_payment(
        &self,
        id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::payments => fail_payment(id, reason, now))
    }
    /// Applies a gateway's word on a payment with its booking, and records the webhook delivery
    /// that said it, in one transaction.
    pub async fn settle_payment(
        &self,
        reference: &str,
        settlement: &Settlement,
        delivery: Option<&Delivery<'_>>,
        links: &Links,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<Settled>> {
        crate::dispatch!(self, crate::payments => settle(reference, settlement, delivery, links, now))
    }
    /// Settles a batch of payments in one transaction, each as [`Store::settle_payment`] would
    /// alone, in order (the settlement engine's batch).
    pub async fn settle_many(
        &self,
        batch: &[Settle],
        links: &Links,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Vec<Option<Settled>>> {
        crate::dispatch!(self, crate::payments => settle_many(batch, links, now))
    }
    /// Opens a refund within what is left to refund.
    pub async fn open_refund(
        &self,
        r: &NewRefund,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<RefundRow>> {
        crate::dispatch!(self, crate::payments => open_refund(r, now))
    }
    /// Records that the gateway accepted a refund, so it is never asked again.
    pub async fn mark_refund_accepted(
        &self,
        refund_id: Uuid,
        gateway_reference: &str,
    ) -> sqlx::Result<()> {
        crate::dispatch!(self, crate::payments => mark_refund_accepted(refund_id, gateway_reference))
    }
    /// What is left to refund of a payment.
    pub async fn refundable(&self, payment_id: Uuid) -> sqlx::Result<i64> {
        crate::dispatch!(self, crate::payments => refundable(payment_id))
    }
    /// Records what became of a refund.
    pub async fn finish_refund(
        &self,
        refund_id: Uuid,
        success: bool,
        gateway_reference: Option<&str>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<PaymentRow>> {
        crate::dispatch!(self, crate::payments => finish_refund(refund_id, success, gateway_reference, now))
    }
    /// Confirms a booking paid offline and records its payment, in one transaction.
    pub async fn confirm_offline(
        &self,
        booking_id: Uuid,
        recorded_by: Uuid,
        links: &Links,
        now: DateTime<Utc>,
    ) -> sqlx::Result<ConfirmOutcome> {
        crate::dispatch!(self, crate::payments => confirm_offline(booking_id, recorded_by, links, now))
    }
    /// Refunds opened but not settled before `older_than`.
    pub async fn pending_refunds(
        &self,
        older_than: DateTime<Utc>,
        limit: i64,
    ) -> sqlx::Result<Vec<RefundRow>> {
        crate::dispatch!(self, crate::payments => pending_refunds(older_than, limit))
    }
    /// The PENDING refunds of a booking's payments.
    pub async fn pending_refunds_of_booking(
        &self,
        booking_id: Uuid,
    ) -> sqlx::Result<Vec<RefundRow>> {
        crate::dispatch!(self, crate::payments => pending_refunds_of_booking(booking_id))
    }
    /// The bookings of an event with a refund PENDING.
    pub async fn bookings_owed_refunds(&self, event_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
        crate::dispatch!(self, crate::payments => bookings_owed_refunds(event_id))
    }
    /// Payments PENDING since before `older_than`.
    pub async fn stale_pending_payments(
        &self,
        older_than: DateTime<Utc>,
        limit: i64,
    ) -> sqlx::Result<Vec<PaymentRow>> {
        crate::dispatch!(self, crate::payments => stale_pending(older_than, limit))
    }
}
