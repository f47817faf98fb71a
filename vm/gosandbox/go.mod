module groundflare.dev/gosandbox

go 1.19
