package main

import (
	"github.com/deposit-rvm/rvm/catalog"
	"github.com/deposit-rvm/rvm/config"
	"github.com/deposit-rvm/rvm/daemon"
	"github.com/deposit-rvm/rvm/machine"
)

func loadConfig(path string) (config.Config, error) { return config.Load(path) }

func machineOptions(c config.Config) machine.Options { return daemon.MachineOptions(c) }

// catalogProduct is a catalogue entry (bench fixtures).
type catalogProduct = catalog.Product

func mustDefaultConfig() config.Config { return config.Default() }
