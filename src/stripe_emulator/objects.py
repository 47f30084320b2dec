"""Builders for Stripe-shaped objects: every key Stripe's own example carries, null where Stripe has null."""

from __future__ import annotations

from typing import Any

from .cards import DelayedMethod, PaymentMethodSpec, TestCard
from .ids import new_id, now, random_token

API_VERSION = "2026-10-28.endive"

JSON = dict[str, Any]


def list_object(data: list[JSON], url: str, has_more: bool = False) -> JSON:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _address() -> JSON:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def line_item(*, currency: str, unit_amount: int, quantity: int, name: str, description: str | None) -> JSON:
    created = now()
    product = new_id("prod", 14)
    total = unit_amount * quantity
    return {
        "id": new_id("li"),
        "object": "item",
        "adjustable_quantity": None,
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": currency,
        "description": name,
        "metadata": {},
        "price": {
            "id": new_id("price"),
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": created,
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": product,
            "recurring": None,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
            "product_description": description,
        },
        "quantity": quantity,
    }


def checkout_session(
    *,
    session_id: str,
    url: str,
    currency: str,
    amount_total: int,
    expires_at: int,
    success_url: str | None,
    cancel_url: str | None,
    client_reference_id: str | None,
    customer_email: str | None,
    metadata: dict[str, str],
    payment_method_types: list[str],
    locale: str | None,
    customer: str | None,
) -> JSON:
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": now(),
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": customer,
        "customer_account": None,
        "customer_creation": "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": locale,
        "managed_payments": {"enabled": False},
        "metadata": metadata,
        "mode": "payment",
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": payment_method_types,
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url,
        "wallet_options": None,
    }


def customer_details(email: str | None, name: str | None) -> JSON:
    return {
        "address": _address(),
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def payment_intent(
    *,
    amount: int,
    currency: str,
    metadata: dict[str, str],
    description: str | None,
    receipt_email: str | None,
    automatic_payment_methods: bool,
    payment_method_types: list[str],
    customer: str | None,
    statement_descriptor: str | None,
) -> JSON:
    pi_id = new_id("pi")
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": (
            {"allow_redirects": "always", "enabled": True} if automatic_payment_methods else None
        ),
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{pi_id}_secret_{random_token(25)}",
        "confirmation_method": "automatic",
        "created": now(),
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": payment_method_types,
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": statement_descriptor,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def _card_details(card: TestCard, amount: int) -> JSON:
    return {
        "amount_authorized": amount,
        "authorization_code": None,
        "brand": card.brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
        "country": card.country,
        "exp_month": 12,
        "exp_year": 2034,
        "extended_authorization": {"status": "disabled"},
        "fingerprint": card.fingerprint,
        "funding": card.funding,
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": card.last4,
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": card.brand,
        "network_token": {"used": False},
        "network_transaction_id": random_token(15),
        "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
        "regulated_status": "unregulated",
        "three_d_secure": None,
        "transaction_link_id": None,
        "wallet": None,
    }


def _bank_details(method: DelayedMethod) -> JSON:
    return {
        "account_holder_type": "individual",
        "account_type": "checking",
        "bank_name": method.bank_name,
        "fingerprint": method.fingerprint,
        "last4": method.last4,
        "mandate": None,
        "payment_reference": None,
        "routing_number": "110000000",
    }


def payment_method_details(method: PaymentMethodSpec, amount: int) -> JSON:
    if isinstance(method, DelayedMethod):
        return {"type": "us_bank_account", "us_bank_account": _bank_details(method)}
    return {"type": "card", "card": _card_details(method, amount)}


def payment_method(method: PaymentMethodSpec, email: str | None, name: str | None) -> JSON:
    details = payment_method_details(method, 0)
    kind = details["type"]
    body = dict(details[kind])
    if kind == "card":
        body = {
            k: body[k] for k in ("brand", "checks", "country", "exp_month", "exp_year", "fingerprint")
        } | {
            "funding": body["funding"],
            "last4": body["last4"],
            "networks": {"available": [body["brand"]], "preferred": None},
            "wallet": None,
        }
    return {
        "id": new_id("pm"),
        "object": "payment_method",
        "billing_details": billing_details(email, name),
        "created": now(),
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": kind,
        kind: body,
    }


def billing_details(email: str | None, name: str | None) -> JSON:
    return {"address": _address(), "email": email, "name": name, "phone": None, "tax_id": None}


def outcome_approved(method: PaymentMethodSpec) -> JSON:
    risk_level = method.risk_level if isinstance(method, TestCard) else "not_assessed"
    risk_score = method.risk_score if isinstance(method, TestCard) else None
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network",
        "reason": "elevated_risk_level" if risk_level == "elevated" else None,
        "risk_level": risk_level,
        "risk_score": risk_score,
        "seller_message": "Payment complete.",
        "type": "authorized",
    }


def outcome_declined(method: PaymentMethodSpec, decline_code: str) -> JSON:
    blocked = decline_code == "fraudulent"
    return {
        "advice_code": "do_not_try_again" if blocked else "try_again_later",
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "not_sent_to_network" if blocked else "declined_by_network",
        "reason": "highest_risk_level" if blocked else decline_code,
        "risk_level": method.risk_level if isinstance(method, TestCard) else "not_assessed",
        "risk_score": method.risk_score if isinstance(method, TestCard) else None,
        "seller_message": (
            "Stripe blocked this payment as too risky."
            if blocked
            else "The bank did not return any further details with this decline."
        ),
        "type": "blocked" if blocked else "issuer_declined",
    }


def charge(
    *,
    pi: JSON,
    method: PaymentMethodSpec,
    payment_method_id: str,
    status: str,
    email: str | None,
    name: str | None,
) -> JSON:
    charge_id = new_id("ch")
    amount = int(pi["amount"])
    succeeded = status == "succeeded"
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if status != "failed" else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn") if succeeded else None,
        "billing_details": billing_details(email, name),
        "calculated_statement_descriptor": "EMULATOR",
        "captured": status != "failed",
        "created": now(),
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": outcome_approved(method) if status != "failed" else None,
        "paid": succeeded,
        "payment_intent": pi["id"],
        "payment_method": payment_method_id,
        "payment_method_details": payment_method_details(method, amount),
        "radar_options": {},
        "receipt_email": pi["receipt_email"],
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{random_token(40)}",
        "refunded": False,
        "refunds": list_object([], f"/v1/charges/{charge_id}/refunds"),
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": pi["statement_descriptor"],
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(
    *,
    charge_obj: JSON,
    amount: int,
    reason: str | None,
    metadata: dict[str, str],
) -> JSON:
    is_card = charge_obj["payment_method_details"]["type"] == "card"
    return {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn"),
        "charge": charge_obj["id"],
        "created": now(),
        "currency": charge_obj["currency"],
        "customer": None,
        "customer_account": None,
        "destination_details": (
            {
                "card": {
                    "reference": None,
                    "reference_status": "pending",
                    "reference_type": None,
                    "type": "refund",
                },
                "type": "card",
            }
            if is_card
            else {
                "type": "us_bank_transfer",
                "us_bank_transfer": {"reference": None, "reference_status": "pending"},
            }
        ),
        "failure_balance_transaction": None,
        "failure_reason": None,
        "livemode": False,
        "metadata": metadata,
        "payment_intent": charge_obj["payment_intent"],
        "payment_method": charge_obj["payment_method"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "pending",
        "transfer_reversal": None,
    }


def balance_transaction(*, amount: int, currency: str, source: str, kind: str, description: str) -> JSON:
    fee = 1500 if kind == "adjustment" and amount < 0 else 0
    return {
        "id": new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": now(),
        "created": now(),
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [],
        "net": amount - fee,
        "reporting_category": "dispute" if amount < 0 else "dispute_reversal",
        "source": source,
        "status": "available",
        "type": kind,
    }


def dispute(*, charge_obj: JSON, amount: int) -> JSON:
    details = charge_obj["payment_method_details"]
    card = details.get("card") or {}
    evidence_fields = [
        "access_activity_log",
        "billing_address",
        "cancellation_policy",
        "cancellation_policy_disclosure",
        "cancellation_rebuttal",
        "customer_communication",
        "customer_email_address",
        "customer_name",
        "customer_purchase_ip",
        "customer_signature",
        "duplicate_charge_documentation",
        "duplicate_charge_explanation",
        "duplicate_charge_id",
        "product_description",
        "receipt",
        "refund_policy",
        "refund_policy_disclosure",
        "refund_refusal_explanation",
        "service_date",
        "service_documentation",
        "shipping_address",
        "shipping_carrier",
        "shipping_date",
        "shipping_documentation",
        "shipping_tracking_number",
        "uncategorized_file",
        "uncategorized_text",
    ]
    evidence: JSON = dict.fromkeys(evidence_fields)
    evidence["enhanced_evidence"] = {}
    return {
        "id": new_id("dp"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_obj["id"],
        "created": now(),
        "currency": charge_obj["currency"],
        "enhanced_eligibility_types": [],
        "evidence": evidence,
        "evidence_details": {
            "due_by": now() + 7 * 86400,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge_obj["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": card.get("brand", "visa"),
                "case_type": "chargeback",
                "network": card.get("network", "visa"),
                "network_reason_code": "10.4",
            },
            "type": "card",
        }
        if card
        else {"type": details["type"]},
        "reason": "fraudulent",
        "status": "needs_response",
    }


def event(
    *,
    event_type: str,
    snapshot: JSON,
    previous_attributes: JSON | None,
    request_id: str | None,
    idempotency_key: str | None,
    pending_webhooks: int,
) -> JSON:
    data: JSON = {"object": snapshot}
    if previous_attributes:
        data["previous_attributes"] = previous_attributes
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": now(),
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }


def webhook_endpoint(
    *,
    url: str,
    enabled_events: list[str],
    description: str | None,
    metadata: dict[str, str],
    api_version: str | None,
) -> JSON:
    return {
        "id": new_id("we"),
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": now(),
        "description": description,
        "enabled_events": enabled_events,
        "livemode": False,
        "metadata": metadata,
        "status": "enabled",
        "url": url,
    }
