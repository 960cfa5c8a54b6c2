/* Prints the x_tables structure sizes blob-size.py uses (from the installed kernel uapi headers). */
#include <stdio.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_statistic.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/xt_mark.h>
int main(void){
  printf("ipt_entry %zu\n", sizeof(struct ipt_entry));
  printf("match_hdr %zu target_hdr %zu\n", sizeof(struct xt_entry_match), sizeof(struct xt_entry_target));
  printf("comment %zu statistic %zu tcp %zu\n", XT_ALIGN(sizeof(struct xt_comment_info)), XT_ALIGN(sizeof(struct xt_statistic_info)), XT_ALIGN(sizeof(struct xt_tcp)));
  printf("std_target %zu error_target %zu\n", XT_ALIGN(sizeof(struct xt_standard_target)), XT_ALIGN(sizeof(struct xt_error_target)));
  printf("nat_range2 %zu nat_range %zu compat %zu\n", XT_ALIGN(sizeof(struct nf_nat_range2)), XT_ALIGN(sizeof(struct nf_nat_range)), XT_ALIGN(sizeof(struct nf_nat_ipv4_multi_range_compat)));
  printf("ipt_replace %zu\n", sizeof(struct ipt_replace));
  return 0;}
