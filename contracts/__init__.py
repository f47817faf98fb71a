"""Names and shapes every groundflare package agrees on; imports none of them."""
