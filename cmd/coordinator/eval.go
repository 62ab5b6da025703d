package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/eval"
	"github.com/dptrain/dptrain/internal/modelfile"
	"github.com/dptrain/dptrain/internal/shard"
	"github.com/dptrain/dptrain/internal/trainer"
)

// modelData is a model file and a dataset prepared for it.
type modelData struct {
	meta  modelfile.Meta
	theta []float64
	prob  *trainer.Problem
	data  *shard.Dataset
}

func openModelData(modelPath, dataPath, format, labelColumn string) (*modelData, error) {
	meta, theta, err := modelfile.Read(modelPath)
	if err != nil {
		return nil, err
	}
	task, err := trainer.ParseTask(meta.Task)
	if err != nil {
		return nil, err
	}
	opt := shard.ReadOptions{Task: task, Classes: meta.Classes, LabelColumn: labelColumn, NumFeatures: meta.Features}
	if task == shard.Multilabel {
		opt.NumLabels, opt.Labels = meta.K, meta.K
	}
	if format != "" {
		if opt.Format, err = shard.ParseFormat(format); err != nil {
			return nil, err
		}
	}
	d, _, err := shard.Load(dataPath, opt)
	if err != nil {
		return nil, err
	}
	spec := trainer.JobSpec{Task: meta.Task, K: meta.K, Features: meta.Features, Classes: meta.Classes, Loss: meta.Loss,
		LossCfg: meta.LossCfg, Model: meta.Model, Scaler: meta.Scaler,
		Train: trainer.DataSource{Rows: d.Rows(), Shards: 1}}
	spec.Test = &trainer.DataSource{Rows: d.Rows(), Shards: shard.DefaultMicroShards(d.Rows())}
	if err := meta.Scaler.Apply(d); err != nil {
		return nil, err
	}
	prob, err := trainer.NewProblem(spec)
	if err != nil {
		return nil, err
	}
	if prob.P != len(theta) {
		return nil, fmt.Errorf("%s: %d parameters, the model config has %d", modelPath, len(theta), prob.P)
	}
	return &modelData{meta: meta, theta: theta, prob: prob, data: d}, nil
}

func runEval(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("coordinator eval", flag.ContinueOnError)
	modelPath := fs.String("model", "", "model file written by train --out (required)")
	dataPath := fs.String("data", "", "labelled data (required)")
	format := fs.String("format", "", "libsvm, csv, arff or idx (default: from the file name)")
	labelColumn := fs.String("label-column", "", "CSV: the label column")
	report := fs.String("report", "", "write the metrics as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelPath == "" || *dataPath == "" {
		return fmt.Errorf("eval needs --model and --data")
	}
	md, err := openModelData(*modelPath, *dataPath, *format, *labelColumn)
	if err != nil {
		return err
	}
	local, err := trainer.NewLocal(md.prob, md.data, md.data)
	if err != nil {
		return err
	}
	vec, err := local.Round(ctx, allreduce.KindEval, md.theta, -1, 0)
	if err != nil {
		return err
	}
	_, lossSum, weightSum, sums := md.prob.Totals(vec, allreduce.KindEval)
	m := md.prob.Eval.Metrics(sums, lossSum, weightSum)
	b, _ := json.Marshal(m)
	fmt.Printf("test: %s\n", b)
	if m.Confusion != nil {
		printConfusion(os.Stdout, m.Confusion, md.meta.Classes)
	}
	if *report != "" {
		return writeJSON(*report, struct {
			Test eval.Metrics `json:"test"`
		}{m})
	}
	return nil
}

// printConfusion prints rows = true class, columns = predicted class.
func printConfusion(w io.Writer, c [][]float64, classes []string) {
	name := func(i int) string {
		if i < len(classes) {
			return classes[i]
		}
		return strconv.Itoa(i)
	}
	width := 6
	for i := range c {
		width = max(width, len(name(i))+1)
		for _, v := range c[i] {
			width = max(width, len(strconv.FormatFloat(v, 'g', -1, 64))+1)
		}
	}
	fmt.Fprintf(w, "confusion matrix (rows: true class, columns: predicted)\n%*s", width, "")
	for j := range c {
		fmt.Fprintf(w, "%*s", width, name(j))
	}
	fmt.Fprintln(w)
	for i, row := range c {
		fmt.Fprintf(w, "%*s", width, name(i))
		for _, v := range row {
			fmt.Fprintf(w, "%*s", width, strconv.FormatFloat(v, 'g', -1, 64))
		}
		fmt.Fprintln(w)
	}
}

// probWriter is an Observer that prints each row's probabilities.
type probWriter struct {
	w    *bufio.Writer
	prob *trainer.Problem
	yhat []float64
	sb   strings.Builder
}

func (p *probWriter) Observe(z, _ []float64, _ float64) {
	p.prob.Loss.Prob(p.yhat, z)
	p.sb.Reset()
	for i, v := range p.yhat {
		if i > 0 {
			p.sb.WriteByte(' ')
		}
		p.sb.WriteString(strconv.FormatFloat(v, 'g', 8, 64))
	}
	p.sb.WriteByte('\n')
	p.w.WriteString(p.sb.String())
}

func runPredict(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("coordinator predict", flag.ContinueOnError)
	modelPath := fs.String("model", "", "model file written by train --out (required)")
	dataPath := fs.String("data", "", "data to predict (labels are read but not used)")
	format := fs.String("format", "", "libsvm, csv, arff or idx (default: from the file name)")
	labelColumn := fs.String("label-column", "", "CSV: the label column")
	out := fs.String("out", "", "write the probabilities here (default: standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelPath == "" || *dataPath == "" {
		return fmt.Errorf("predict needs --model and --data")
	}
	md, err := openModelData(*modelPath, *dataPath, *format, *labelColumn)
	if err != nil {
		return err
	}
	dst := io.Writer(os.Stdout)
	if *out != "" {
		fh, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer fh.Close()
		dst = fh
	}
	pw := &probWriter{w: bufio.NewWriterSize(dst, 1<<16), prob: md.prob, yhat: make([]float64, md.prob.Loss.Logits())}
	m, err := md.prob.NewModel()
	if err != nil {
		return err
	}
	m.Accumulate(nil, md.theta, shard.Rows{D: md.data, Lo: 0, Hi: md.data.Rows()}, md.prob.Loss, pw)
	return pw.w.Flush()
}
