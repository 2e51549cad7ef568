# Copyright (c) the snowflake authors
#
# The release metadata agrees with itself and with the tree: META.json has
# every field the PGXN meta spec (1.0.0) requires, in the forms it requires;
# its version is the control file's default_version; the install script it
# names exists; every version shipped in sql/ is installed by the Makefile
# and reachable by an update path from 1.0; debian/changelog releases the
# same version, and debian/control is what pg_buildext makes of
# debian/control.in.  No server is needed.
use strict;
use warnings;
use FindBin;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = "$FindBin::RealBin/../..";
sub slurp_of { my ($f) = @_; return slurp_file("$root/$f"); }

my $meta = decode_json(slurp_of('META.json'));

# Required by the PGXN meta spec, with their forms.
like($meta->{name}, qr/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'name is a valid distribution name');
ok(length($meta->{abstract} // '') > 0, 'abstract is present');
my $semver = qr/^\d+\.\d+\.\d+$/;
like($meta->{version}, $semver, 'version is a semantic version');
ok(ref $meta->{maintainer} eq 'ARRAY' ? @{ $meta->{maintainer} } : length($meta->{maintainer} // ''),
	'maintainer is present');
ok(defined $meta->{license}
	  && (ref $meta->{license} || grep { $_ eq $meta->{license} }
		qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd gfdl_1_2
		  gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1
		  openssl perl_5 postgresql qpl_1_0 ssleay sun zlib open_source restricted
		  unrestricted unknown)),
	'license is one the spec names');
is($meta->{'meta-spec'}{version}, '1.0.0', 'meta-spec version 1.0.0');
ok(ref $meta->{provides} eq 'HASH' && %{ $meta->{provides} }, 'provides is present');
for my $ext (sort keys %{ $meta->{provides} })
{
	my $p = $meta->{provides}{$ext};
	ok(length($p->{abstract} // '') > 0, "provides.$ext has an abstract");
	like($p->{version}, $semver, "provides.$ext has a semantic version");
	ok(-f "$root/$p->{file}", "provides.$ext names a file that exists ($p->{file})");
}
if (exists $meta->{release_status})
{
	like($meta->{release_status}, qr/^(stable|testing|unstable)$/, 'release_status is valid');
}

# The version, everywhere.
my ($default) = slurp_of('snowflake.control') =~ /^default_version\s*=\s*'([^']+)'/m;
is("$default.0", $meta->{version}, "META.json's version is the control file's $default");
is($meta->{provides}{snowflake}{version}, $meta->{version}, 'provides.snowflake has that version');
is($meta->{provides}{snowflake}{file}, "sql/snowflake--$default.sql",
	'provides.snowflake names the fresh install script of that version');
my ($deb) = slurp_of('debian/changelog') =~ /^snowflake \(([^)]+)\)/;
like($deb, qr/^\Q$meta->{version}\E(-\d+)?$/, "debian/changelog releases $meta->{version}");

# Every script in sql/ is installed, and every version updates to the newest.
my $makefile = slurp_of('Makefile');
$makefile =~ s/\\\n/ /g;
my ($data) = $makefile =~ /^DATA\s*=\s*(.*)$/m;
my %data = map { $_ => 1 } split ' ', $data;
opendir(my $dh, "$root/sql") or die;
my @scripts = sort grep { /^snowflake--.*\.sql$/ } readdir $dh;
closedir $dh;
for my $s (@scripts)
{
	ok($data{"sql/$s"}, "Makefile installs sql/$s");
}
my (%fresh, %update);
for (@scripts)
{
	if (/^snowflake--([\d.]+)\.sql$/) { $fresh{$1} = 1; }
	elsif (/^snowflake--([\d.]+)--([\d.]+)\.sql$/) { push @{ $update{$1} }, $2; }
}
ok($fresh{$default}, "a fresh install script for $default exists");
for my $v (sort keys %fresh)
{
	my %seen = ($v => 1);
	my @todo = ($v);
	while (my $x = shift @todo)
	{
		for my $y (@{ $update{$x} || [] })
		{
			push @todo, $y unless $seen{$y}++;
		}
	}
	ok($seen{$default}, "version $v has an update path to $default");
}

# debian/control is generated from debian/control.in.
my $in = slurp_of('debian/control.in');
my $control = slurp_of('debian/control');
my @pgv = grep { /\S/ } split /\s+/, slurp_of('debian/pgversions');
my $expected = $in;
if (@pgv == 1 && $pgv[0] =~ /^\d+$/)
{
	$expected =~ s/PGVERSION/$pgv[0]/g;
	is($control, $expected, 'debian/control is debian/control.in for PostgreSQL ' . $pgv[0]);
}
ok(-f "$root/LICENSE", 'LICENSE is present');

done_testing();
