package bottleneck

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/gostudy/gostudy/pkg/ablation"
	"github.com/gostudy/gostudy/pkg/experiment"
	"github.com/gostudy/gostudy/pkg/nn"
	"github.com/gostudy/gostudy/pkg/plots"
)

// TableRow is one line of the comparison table as the notebook shows it.
type TableRow struct {
	Block string
	// Params and MFLOPs are per 28×28 image (FLOPs = 2 × multiply-accumulates).
	Params string
	MFLOPs string
	// TestAcc is the best checkpoint's accuracy on the test images.
	TestAcc string
	// StepMS is the median training step in milliseconds on this machine and backend.
	StepMS string
	// TrainS is the run's wall time in seconds, XLA compilation and evaluations included.
	TrainS string
}

// Rows formats trained results for display.
func Rows(results []*Result) []TableRow {
	out := make([]TableRow, len(results))
	for i, r := range results {
		out[i] = TableRow{
			Block:   r.Label,
			Params:  fmt.Sprintf("%.1fK", float64(r.Cost.Params)/1e3),
			MFLOPs:  fmt.Sprintf("%.2f", float64(r.Cost.FLOPs)/1e6),
			TestAcc: fmt.Sprintf("%.4f", r.TestAcc),
			StepMS:  fmt.Sprintf("%.1f", r.StepTime.Seconds()*1e3),
			TrainS:  fmt.Sprintf("%.1f", r.Wall.Seconds()),
		}
	}
	return out
}

// CostTableRow is one line of the cost table (before training).
type CostTableRow struct {
	Block  string
	Params string
	MFLOPs string
	// PathWidths are a ResNeXt's per-stage path widths d (cardinality × d = the 3×3's width).
	PathWidths string
}

// CostRows formats cost rows for display.
func CostRows(rows []CostRow) []CostTableRow {
	out := make([]CostTableRow, len(rows))
	for i, r := range rows {
		out[i] = CostTableRow{Block: r.Label, Params: fmt.Sprintf("%.1fK", float64(r.Cost.Params)/1e3),
			MFLOPs: fmt.Sprintf("%.2f", float64(r.Cost.FLOPs)/1e6)}
		if r.GroupWidths != nil {
			out[i].PathWidths = fmt.Sprint(r.GroupWidths)
		}
	}
	return out
}

// LoadAverage is the machine's 1-, 5- and 15-minute load average ("" where /proc is missing):
// timings on a shared machine mean little without it.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Connectivity is the [channels, channels] matrix of a 1×1 or k×k convolution with `groups`
// groups: entry (o, i) is 1 when output channel o reads input channel i. groups = 1 is an
// ordinary convolution (all ones), groups = channels a depthwise one (the identity): grouped
// convolutions sit between the two, as the notes say.
func Connectivity(channels, groups int) ([][]float64, error) {
	if groups <= 0 || channels%groups != 0 {
		return nil, fmt.Errorf("%d channels do not split into %d groups", channels, groups)
	}
	per := channels / groups
	m := make([][]float64, channels)
	for o := range m {
		m[o] = make([]float64, channels)
		for i := range m[o] {
			if o/per == i/per {
				m[o][i] = 1
			}
		}
	}
	return m, nil
}

// Point is one network of an ablation: its cost and its test accuracy over seeds.
type Point struct {
	Label   string
	Net     Net
	Cost    nn.Cost
	TestAcc experiment.Stat
}

// CardinalityPoints reads the cardinality ablation's table into points, in grid order.
func CardinalityPoints(cfg LessonConfig, tab *ablation.Table) ([]Point, error) {
	var out []Point
	for _, row := range tab.Rows {
		if len(row.Values) != 1 {
			return nil, fmt.Errorf("cardinality ablation row %v: want one axis", row.Values)
		}
		c, err := strconv.Atoi(row.Values[0])
		if err != nil {
			return nil, fmt.Errorf("cardinality %q: %w", row.Values[0], err)
		}
		net := ResNeXt(cfg.Base.Net, c, 1)
		cost, err := CostOf(net)
		if err != nil {
			return nil, err
		}
		out = append(out, Point{Label: net.Label(), Net: net, Cost: cost, TestAcc: row.Summary.Final["acc"]})
	}
	return out, nil
}

// RepeatedPoints turns the complexity comparison's results into points.
func RepeatedPoints(rs []Repeated) []Point {
	out := make([]Point, len(rs))
	for i, r := range rs {
		out[i] = Point{Label: r.Label, Net: r.Net, Cost: r.Cost, TestAcc: r.TestAcc}
	}
	return out
}

// AccuracyBars draws test accuracy (mean ± std over seeds) per point; the y axis starts near
// the lowest bar so that differences of a fraction of a percent are visible.
func AccuracyBars(title string, points []Point) plots.Bars {
	cats := make([]string, len(points))
	vals := make([]float64, len(points))
	errs := make([]float64, len(points))
	for i, p := range points {
		cats[i] = fmt.Sprintf("%s (%.0fK)", p.Label, float64(p.Cost.Params)/1e3)
		vals[i] = p.TestAcc.Mean
		errs[i] = p.TestAcc.Std
	}
	return plots.Bars{Title: title, YLabel: "test accuracy (mean ± std over seeds)", Categories: cats,
		Series: []plots.BarSeries{{Name: "test accuracy", Values: vals, Err: errs}}, ShowValues: true}
}

// Comparison says how a point compares with a reference, in a way that does not overclaim.
type Comparison struct {
	Label string
	// Diff is mean accuracy minus the reference's, in percentage points.
	Diff float64
	// Noise is the combined standard error of the two means, in percentage points (0 with one
	// seed: then nothing can be concluded).
	Noise float64
	// Verdict is "better", "worse", "within noise" (|Diff| ≤ 2·Noise) or, with one seed,
	// "one seed: no verdict".
	Verdict string
}

// Compare compares every point with points[0].
func Compare(points []Point) []Comparison {
	if len(points) == 0 {
		return nil
	}
	ref := points[0].TestAcc
	var out []Comparison
	for _, p := range points[1:] {
		c := Comparison{Label: p.Label, Diff: 100 * (p.TestAcc.Mean - ref.Mean)}
		if p.TestAcc.N() > 1 && ref.N() > 1 {
			c.Noise = 100 * math.Sqrt(p.TestAcc.Std*p.TestAcc.Std/float64(p.TestAcc.N())+ref.Std*ref.Std/float64(ref.N()))
		}
		switch {
		case p.TestAcc.N() < 2 || ref.N() < 2:
			c.Verdict = "one seed: no verdict"
		case math.Abs(c.Diff) <= 2*c.Noise:
			c.Verdict = "within noise"
		case c.Diff > 0:
			c.Verdict = "better"
		default:
			c.Verdict = "worse"
		}
		out = append(out, c)
	}
	return out
}
