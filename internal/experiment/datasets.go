package experiment

import (
	"fmt"
	"path/filepath"

	"github.com/dptrain/dptrain/internal/shard"
	"github.com/dptrain/dptrain/internal/trainer"
)

// Dataset is one dataset of a comparison: where its files are, how they
// are read and scaled, and the budget it is run with.
type Dataset struct {
	// Name identifies the dataset in tables, file names and --datasets.
	Name string
	// Task is the task the files are read as.
	Task shard.Task
	// Data says how to read it; its paths are relative to the data root
	// in the catalog and absolute after Resolve.
	Data trainer.DataConfig
	// Source is the folder holding the dataset's SOURCE.md, relative to
	// the data root.
	Source string
	// Seeds, when > 0, caps the number of seeds of this dataset (large
	// models whose steps move tens of megabytes).
	Seeds int
	// Epochs and BatchSize, when > 0, replace the claim's for this
	// dataset (for every model compared on it).
	Epochs, BatchSize int
}

// Catalog returns the datasets of each claim as laid out in the shared
// data folder (see its README.md): C1 binary, C2 single-label
// multi-class, C3 multi-label.
//
// Scaling is max-abs fitted on the training rows, as in REFERENCE.md,
// except for mnist (the reader divides pixels by 255) and sector (rows are
// already tf-idf vectors of unit length; its 55,197 max-abs factors would
// also make the job spec larger than the trainer's control-message limit).
// Sets without a test file hold out every fifth row (w8a as in
// REFERENCE.md, dermatology likewise).
//
// Budgets: dermatology (292 training rows, 3 steps an epoch) runs 100
// epochs; sector (5.8 million parameters: about 1.4 s a step on two local
// workers) runs one seed of 5 epochs of batches of 512; bibtex (292,000
// parameters) one seed of 20 epochs of batches of 256.
func Catalog() map[string][]Dataset {
	libsvm := func(name, dir, train, test string, task shard.Task) Dataset {
		return Dataset{Name: name, Task: task, Source: dir, Data: trainer.DataConfig{
			Train: filepath.Join(dir, train), Test: testPath(dir, test), Scale: "maxabs",
			Read: shard.ReadOptions{Format: shard.LIBSVM, Task: task}}}
	}
	multilabel := func(name string, k int) Dataset {
		d := libsvm(name, name, "derived-libsvm/"+name+"-train.svm", "derived-libsvm/"+name+"-test.svm", shard.Multilabel)
		d.Data.Read.NumLabels = k
		return d
	}
	w8a := libsvm("w8a", "w8a", "w8a", "", shard.Binary)
	w8a.Data.HoldOut = 5
	mnist := Dataset{Name: "mnist", Task: shard.Multiclass, Source: "mnist", Data: trainer.DataConfig{
		Train: "mnist/train-images-idx3-ubyte.gz", Test: "mnist/t10k-images-idx3-ubyte.gz", Scale: "none",
		Read: shard.ReadOptions{Format: shard.IDX, Task: shard.Multiclass}}}
	sector := libsvm("sector", "sector", "sector.scale.bz2", "sector.t.scale.bz2", shard.Multiclass)
	sector.Data.Scale = "none"
	sector.Seeds, sector.Epochs, sector.BatchSize = 1, 5, 512
	derm := Dataset{Name: "dermatology", Task: shard.Multiclass, Source: "dermatology", Epochs: 100, Data: trainer.DataConfig{
		Train: "dermatology/dermatology.data", Scale: "maxabs", HoldOut: 5,
		Read: shard.ReadOptions{Format: shard.CSV, Task: shard.Multiclass, Header: shard.HeaderNo, LabelColumn: "-1",
			Missing: shard.MissingMean}}}
	bibtex := multilabel("bibtex", 159)
	bibtex.Seeds, bibtex.Epochs, bibtex.BatchSize = 1, 20, 256
	return map[string][]Dataset{
		"c1": {
			libsvm("a9a", "a9a", "a9a", "a9a.t", shard.Binary),
			w8a,
			libsvm("mushrooms", "mushrooms", "agaricus.txt.train", "agaricus.txt.test", shard.Binary),
			libsvm("ijcnn1", "ijcnn1", "ijcnn1.trn.bz2", "ijcnn1.tst.bz2", shard.Binary),
		},
		"c2": {
			derm,
			libsvm("pendigits", "pendigits", "pendigits", "pendigits.t", shard.Multiclass),
			mnist,
			sector,
		},
		"c3": {
			multilabel("scene", 6),
			multilabel("emotions", 6),
			multilabel("medical", 45),
			multilabel("enron", 53),
			bibtex,
		},
	}
}

func testPath(dir, test string) string {
	if test == "" {
		return ""
	}
	return filepath.Join(dir, test)
}

// Resolve returns d with its paths made absolute under root.
func (d Dataset) Resolve(root string) Dataset {
	d.Data.Train = filepath.Join(root, d.Data.Train)
	if d.Data.Test != "" {
		d.Data.Test = filepath.Join(root, d.Data.Test)
	}
	d.Source = filepath.Join(root, d.Source)
	return d
}

// selectDatasets returns the datasets of list whose names are in names
// (all of them when names is empty), in list order, and an error naming an
// unknown name.
func selectDatasets(list []Dataset, names []string, all map[string][]Dataset) ([]Dataset, error) {
	if len(names) == 0 {
		return list, nil
	}
	known := map[string]bool{}
	for _, ds := range all {
		for _, d := range ds {
			known[d.Name] = true
		}
	}
	want := map[string]bool{}
	for _, n := range names {
		if !known[n] {
			return nil, fmt.Errorf("experiment: unknown dataset %q", n)
		}
		want[n] = true
	}
	var out []Dataset
	for _, d := range list {
		if want[d.Name] {
			out = append(out, d)
		}
	}
	return out, nil
}
