from dipflow.cli.main import main

main()
