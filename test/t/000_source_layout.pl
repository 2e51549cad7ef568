
# Copyright (c) the snowflake authors
#
# The layout of src/: every source file sits in a layer, data flows one way,
# and no file includes the header of a file in a layer above its own (so
# there is no include cycle either).  A module is a .c file and the .h file
# of the same name; lease_keeper.h is the private header of the lease
# keeper's two files.  A new file must be given its layer here.

use strict;
use warnings;

use FindBin;
use Test::More;

my $src = "$FindBin::RealBin/../../src";

# Bottom to top.
my @layers = (
	[qw(layout worker_session id_type)],    # pure layout math; a worker's session; the ID type
	[qw(config)],                    # settings and the cluster layout
	[qw(callers canary_ring)],       # per-caller counters; the canary's sample
	[qw(shmem)],                     # shared memory and its protocol
	[qw(clock)],                     # reading the clocks
	[qw(mint_wait lease_slots coordinator)],
	[qw(generator lease_table guard)],
	[qw(lease_keeper)],              # what the keeper's two files share
	[qw(canary)],                    # the duplicate canary on the keeper's side
	[qw(lease lease_acquire layout_catalog status)],
	[qw(functions adoption)],        # minting, codec and adoption SQL functions
	[qw(worker)],                    # the background workers
	[qw(snowflake)],                 # _PG_init and hooks
);

my %layer_of;
foreach my $i (0 .. $#layers)
{
	$layer_of{$_} = $i foreach @{ $layers[$i] };
}

opendir(my $dh, $src) or die "could not read $src: $!";
my @files = sort grep { /\.[ch]$/ } readdir($dh);
closedir($dh);
cmp_ok(scalar(@files), '>', 10, "src/ has its source files (" . scalar(@files) . ")");

my %includes;    # module => { module it includes => "file" }
foreach my $file (@files)
{
	(my $module = $file) =~ s/\.[ch]$//;
	ok(exists $layer_of{$module}, "$file has a layer")
	  or next;
	open(my $fh, '<', "$src/$file") or die "could not read $src/$file: $!";
	while (my $line = <$fh>)
	{
		next unless $line =~ /^#include "([a-z_]+)\.h"/;
		my $target = $1;
		next if $target eq 'postgres' || !-e "$src/$target.h";
		next if $target eq $module;
		$includes{$module}{$target} = $file;
	}
	close($fh);
}

# No include goes up, or sideways within a layer.
my @wrong;
foreach my $module (sort keys %includes)
{
	foreach my $target (sort keys %{ $includes{$module} })
	{
		push @wrong,
		  "$includes{$module}{$target} includes $target.h "
		  . "(layer $layer_of{$target} is not below layer $layer_of{$module})"
		  if $layer_of{$target} >= $layer_of{$module};
	}
}
is(join("\n", @wrong), '', 'every include goes to a lower layer');

# And so there is no cycle; checked on its own, by a depth-first search.
my (%state, @cycle);

sub visit
{
	my ($module, @path) = @_;
	return if @cycle;
	if (($state{$module} // '') eq 'open')
	{
		@cycle = (@path, $module);
		return;
	}
	return if ($state{$module} // '') eq 'done';
	$state{$module} = 'open';
	visit($_, @path, $module) foreach sort keys %{ $includes{$module} // {} };
	$state{$module} = 'done';
	return;
}
visit($_) foreach sort keys %includes;
is(join(' -> ', @cycle), '', 'no include cycle among the files of src/');

# Each file says what it owns: a header comment naming the file.
foreach my $file (@files)
{
	open(my $fh, '<', "$src/$file") or die "could not read $src/$file: $!";
	my $head = join('', map { scalar(<$fh>) // '' } 1 .. 4);
	close($fh);
	like($head, qr/^\s\*\s\Q$file\E\n/m, "$file starts with a header comment that names it");
}

done_testing();
