from groundflare.cli import main

main()
