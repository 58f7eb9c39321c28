package machine

import "github.com/deposit-rvm/rvm/machine/config"

// OptionsFromConfig maps the configuration onto the controller's options:
// the one mapping that rvmd run (on the Pi or the simulator), rvmd simulate
// and the tests share. Clock, Logger, RvmID and Catalog are the caller's.
func OptionsFromConfig(c config.Config) Options {
	return Options{
		Rules: Rules{
			AcceptTestPhase:     c.AcceptTestPhase,
			ShapeTolerancePct:   c.ShapeTolerancePct,
			WeightTolerancePct:  c.WeightTolerancePct,
			FraudBlockThreshold: c.FraudBlockThreshold,
		},
		IdleTimeout:      c.IdleTimeout,
		BagMaxContainers: c.BagMaxContainers,
		BagMaxMass:       c.BagMaxMass,
		BagWarnPct:       c.BagWarnPct,
		WasteTypes:       c.WasteTypes,
		VoucherValidity:  c.VoucherValidity,
		VoucherPrintType: c.VoucherPrintType,
		ConveyorLimit:    c.ConveyorLimit,
		BagSettle:        c.BagSettle,
		DriftLimit:       c.DriftWarn,

		ContainerBatchMax:   c.ContainerBatchMax,
		ContainerBatchEvery: c.ContainerBatchEvery,
	}
}
