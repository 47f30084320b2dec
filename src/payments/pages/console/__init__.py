"""The operator console: what is stuck, a payment's file, the referral programme (admin only)."""
