from hokusai_cli.app import main

main()
