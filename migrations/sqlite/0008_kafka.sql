-- Kafka intake: the message a payload came from (`kafka:<topic>:<partition>:<offset>`),
-- recorded in the payload's transaction, so a redelivered message is recognised and
-- stored once. NULL for payloads that came another way; NULLs never collide.
ALTER TABLE raw_alerts ADD COLUMN delivery_id TEXT;
CREATE UNIQUE INDEX raw_alerts_by_delivery ON raw_alerts (delivery_id);
