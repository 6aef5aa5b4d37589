-- The digest of each purchase's request (phonefleet.PurchaseRequest.Digest),
-- so that a retry with the same X-Request-Id and another body is refused
-- instead of answered with the first order. Orders made before this
-- migration have none (''), and a retry of them is answered as before.
ALTER TABLE orders ADD COLUMN request_digest text NOT NULL DEFAULT '';
