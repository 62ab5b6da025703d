package main

import (
	"fmt"
	"image/color"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/dptrain/dptrain/internal/trainer"
)

// history keeps the per-epoch figures for --plot.
type history struct {
	epoch, objective, testLoss, testAcc []float64
}

// progress returns the callbacks that log each epoch, draw a progress bar
// when stderr is a terminal, and keep the history (job.Run feeds the
// metrics).
func progress(log *zap.Logger, h *history, bar func() *progressbar.ProgressBar) (func(trainer.EpochReport), func(trainer.StepReport)) {
	onEpoch := func(r trainer.EpochReport) {
		fields := []zap.Field{zap.Int("epoch", r.Epoch+1), zap.Uint64("steps", r.Steps), zap.Float64("objective", r.Objective),
			zap.Float64("grad_norm", r.GradNorm), zap.Float64("seconds", r.Seconds)}
		if r.Test != nil {
			fields = append(fields, zap.Float64("test_loss", r.Test.Loss), zap.Float64("test_accuracy", r.Test.Accuracy))
		}
		if b := bar(); b != nil {
			desc := fmt.Sprintf("epoch %d  J %.5g", r.Epoch+1, r.Objective)
			if r.Test != nil {
				desc += fmt.Sprintf("  test acc %.4f", r.Test.Accuracy)
			}
			b.Describe(desc)
		} else {
			log.Info("epoch", fields...)
		}
		h.epoch = append(h.epoch, float64(r.Epoch+1))
		h.objective = append(h.objective, r.Objective)
		if r.Test != nil {
			h.testLoss = append(h.testLoss, r.Test.Loss)
			h.testAcc = append(h.testAcc, r.Test.Accuracy)
		}
	}
	onStep := func(r trainer.StepReport) {
		log.Debug("step", zap.Uint64("step", r.Step), zap.Float64("objective", r.Objective), zap.Float64("grad_norm", r.GradNorm))
		if b := bar(); b != nil {
			_ = b.Set64(int64(r.Step))
		}
	}
	return onEpoch, onStep
}

// newBar returns a progress bar over steps on a terminal, nil otherwise.
func newBar(steps int) *progressbar.ProgressBar {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return progressbar.NewOptions(steps, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("steps"), progressbar.OptionShowIts(), progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish(), progressbar.OptionFullWidth())
}

// writePlot draws the objective and test loss (top) and the test accuracy
// (bottom) per epoch into a PNG.
func writePlot(path string, h *history) error {
	if len(h.epoch) == 0 {
		return fmt.Errorf("--plot: no epoch completed")
	}
	xy := func(ys []float64) plotter.XYs {
		pts := make(plotter.XYs, len(ys))
		for i, y := range ys {
			pts[i].X, pts[i].Y = h.epoch[i], y
		}
		return pts
	}
	loss := plot.New()
	loss.Title.Text = "loss"
	loss.X.Label.Text = "epoch"
	line := func(p *plot.Plot, name string, ys []float64, c color.Color) error {
		l, err := plotter.NewLine(xy(ys))
		if err != nil {
			return err
		}
		l.Color = c
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	if err := line(loss, "objective J(θ) (mini-batch: the last step's batch)", h.objective, color.RGBA{R: 200, A: 255}); err != nil {
		return err
	}
	acc := plot.New()
	acc.Title.Text = "test accuracy"
	acc.X.Label.Text = "epoch"
	if len(h.testLoss) == len(h.epoch) {
		if err := line(loss, "test loss", h.testLoss, color.RGBA{B: 200, A: 255}); err != nil {
			return err
		}
		if err := line(acc, "test accuracy", h.testAcc, color.RGBA{G: 140, A: 255}); err != nil {
			return err
		}
	}
	img := vgimg.New(8*vg.Inch, 8*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadY: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{{loss}, {acc}}, tiles, dc)
	loss.Draw(canvases[0][0])
	acc.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
