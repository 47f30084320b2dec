"""The referrer's dashboard: their own earnings by month, totals, commissions and a CSV of them."""
