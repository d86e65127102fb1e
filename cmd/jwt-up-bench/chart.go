package main

import (
	"errors"
	"image/color"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The colours of the two sides in the chart.
var (
	jwtUpColor   = color.RGBA{R: 0x1f, G: 0x6f, B: 0xb4, A: 0xff}
	ceilingColor = color.RGBA{R: 0xb0, G: 0xb0, B: 0xb0, A: 0xff}
)

// chartData is what the chart shows of the scenarios that ran.
type chartData struct {
	names                 []string
	upRPS, ceilingRPS     plotter.Values
	upP99Ms, ceilingP99Ms plotter.Values
}

// chartDataOf collects the figures of every scenario that ran. For a sign
// scenario the ceiling is the sign ceiling.
func chartDataOf(results []scenarioResult) chartData {
	var d chartData
	for _, r := range results {
		if !r.ran() {
			continue
		}
		up, ceiling := r.sides[0], r.sides[1]
		d.names = append(d.names, r.name)
		d.upRPS = append(d.upRPS, up.rps())
		d.ceilingRPS = append(d.ceilingRPS, ceiling.rps())
		d.upP99Ms = append(d.upP99Ms, millis(up.latency.quantile(0.99)))
		d.ceilingP99Ms = append(d.ceilingP99Ms, millis(ceiling.latency.quantile(0.99)))
	}
	return d
}

// writeChart draws requests per second and p99 latency per scenario,
// jwt-up beside its ceiling, one panel above the other, as a PNG.
func writeChart(rep report, path string) error {
	d := chartDataOf(rep.results)
	if len(d.names) == 0 {
		return errors.New("no scenario ran: nothing to draw")
	}
	throughput, err := groupedBars("requests per second (more is better)", d.names, d.upRPS, d.ceilingRPS)
	if err != nil {
		return err
	}
	latency, err := groupedBars("p99 latency, ms, log scale (less is better)", d.names, d.upP99Ms, d.ceilingP99Ms)
	if err != nil {
		return err
	}
	useLogScale(latency, slicesMin(d.upP99Ms, d.ceilingP99Ms))

	img := vgimg.NewWith(vgimg.UseWH(11*vg.Inch, 9*vg.Inch), vgimg.UseDPI(110))
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(12), PadTop: vg.Points(8),
		PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{{throughput}, {latency}}, tiles, draw.New(img))
	throughput.Draw(canvases[0][0])
	latency.Draw(canvases[1][0])

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

// groupedBars is a bar chart with a pair of bars per scenario: jwt-up on
// the left, its ceiling on the right.
func groupedBars(title string, names []string, up, ceiling plotter.Values) (*plot.Plot, error) {
	const width = vg.Length(13)
	upBars, err := plotter.NewBarChart(up, width)
	if err != nil {
		return nil, err
	}
	ceilingBars, err := plotter.NewBarChart(ceiling, width)
	if err != nil {
		return nil, err
	}
	upBars.Color, upBars.Offset, upBars.LineStyle.Width = jwtUpColor, -width/2, 0
	ceilingBars.Color, ceilingBars.Offset, ceilingBars.LineStyle.Width = ceilingColor, width/2, 0

	p := plot.New()
	p.Title.Text = title
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil // lines across the bars only
	p.Add(grid, upBars, ceilingBars)
	p.Legend.Add("jwt-up", upBars)
	p.Legend.Add("ceiling (sign ceiling for miss-*)", ceilingBars)
	p.Legend.Top = true

	p.Y.Tick.Marker = plainTicks{}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(names))-0.4 // room for the outer bars
	p.Y.Max *= 1.15                                  // and for the legend
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YTop
	return p, nil
}

// plainTicks are gonum's default ticks, labelled without needless
// decimals: 25000, not 25000.00.
type plainTicks struct{}

// Ticks returns the default ticks between min and max.
func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', -1, 64)
		}
	}
	return ticks
}

// useLogScale puts p's value axis on a log scale starting at the power of
// ten below floor, the least value drawn, where the log ticks begin too.
func useLogScale(p *plot.Plot, floor float64) {
	if floor <= 0 || math.IsInf(floor, 0) {
		floor = 0.01
	}
	p.Y.Scale = barLogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(floor)))
	p.Y.Max = max(p.Y.Max*1.5, p.Y.Min*10)
}

// barLogScale is a log scale on which values at or below the axis minimum
// sit at the bottom: bars start at zero, which no log scale can show.
type barLogScale struct{}

// Normalize places x between min and max on a log scale.
func (barLogScale) Normalize(min, max, x float64) float64 {
	return plot.LogScale{}.Normalize(min, max, math.Max(x, min))
}

// slicesMin is the least positive value of all of vs; +Inf if none.
func slicesMin(vs ...plotter.Values) float64 {
	least := math.Inf(1)
	for _, v := range vs {
		for _, x := range v {
			if x > 0 {
				least = min(least, x)
			}
		}
	}
	return least
}
