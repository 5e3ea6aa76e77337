package main

import "time"

// nowFunc is the clock of the CLI (a variable so tests can pin it).
var nowFunc = time.Now
