from egd.cli import main

main()
