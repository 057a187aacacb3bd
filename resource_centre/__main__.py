from resource_centre.cli import main

main()
