# Pareto plots of a figs sweep (figs sweep writes and runs this; rerun: gnuplot pareto.gp)
set datafile separator ','
set key bottom right
set grid
set logscale x
set ylabel 'test accuracy (mean over seeds, bars: std)'
if (!exists('suffix')) suffix = ''
set xlabel 'parameters'
set terminal pngcairo size 900,600
set output 'pareto_params.png'.suffix
plot 'summary.csv' using (strcol(1) eq 'figs' ? $4 : NaN):6:7 with yerrorlines pointsize 1.5 title 'figs'
set terminal svg size 900,600
set output 'pareto_params.svg'.suffix
plot 'summary.csv' using (strcol(1) eq 'figs' ? $4 : NaN):6:7 with yerrorlines pointsize 1.5 title 'figs'
set xlabel 'MACs per image'
set terminal pngcairo size 900,600
set output 'pareto_macs.png'.suffix
plot 'summary.csv' using (strcol(1) eq 'figs' ? $5 : NaN):6:7 with yerrorlines pointsize 1.5 title 'figs'
set terminal svg size 900,600
set output 'pareto_macs.svg'.suffix
plot 'summary.csv' using (strcol(1) eq 'figs' ? $5 : NaN):6:7 with yerrorlines pointsize 1.5 title 'figs'
unset output
