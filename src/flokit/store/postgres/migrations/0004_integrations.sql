-- Reserved for the integrations' migration (issue 13), which replaces this file; it holds
-- nothing so that 0005 applies in order until then.
SELECT 1;
