-- The date (YYYY-MM-DD, UTC) the merchant's information is next due for its
-- regular review. NULL for merchants onboarded before this column: then
-- due one review interval after onboarding (see review.rs).
ALTER TABLE merchants ADD COLUMN info_review_due TEXT
